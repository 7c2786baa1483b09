// The client snippets in docs/clients.md are files of the web client, compiled by `npm run typecheck`; this keeps
// the page's copies identical to them.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";

const root = new URL("../", import.meta.url);

describe("docs/clients.md client snippets", () => {
  it("each `<!-- snippet: path -->` block is that file, verbatim", async () => {
    const page = await readFile(new URL("docs/clients.md", root), "utf8");
    const blocks = [...page.matchAll(/<!-- snippet: (\S+) -->\n```ts\n([\s\S]*?)```\n/g)];
    expect(blocks.map(([, path]) => path)).toEqual([
      "web/src/snippets/urql-client.ts",
      "web/src/snippets/apollo-client.ts",
    ]);
    for (const [, path, code] of blocks) expect(code, path).toBe(await readFile(new URL(path!, root), "utf8"));
  });
});
