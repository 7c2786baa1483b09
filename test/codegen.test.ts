import { readFile } from "node:fs/promises";
import { generate } from "@graphql-codegen/cli";
import { describe, expect, it } from "vitest";
import config from "../codegen.ts";

describe("npm run codegen", () => {
  it("has produced the committed typed documents for the example operations", { timeout: 60_000 }, async () => {
    const outputs: Array<{ filename: string; content: string }> = await generate({ ...config, silent: true }, false);
    expect(outputs.map((o) => o.filename).sort()).toEqual([
      "test/generated/gql.ts",
      "test/generated/graphql.ts",
      "test/generated/index.ts",
    ]);
    for (const output of outputs) {
      expect(await readFile(new URL(`../${output.filename}`, import.meta.url), "utf8"), output.filename).toBe(output.content);
    }
  });
});
