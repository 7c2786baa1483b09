import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { generate } from "@graphql-codegen/cli";
import { describe, expect, it } from "vitest";
import config from "../codegen.ts";

describe("npm run codegen", () => {
  it("keys the web client's persisted-documents manifest by the SHA-256 of each document's exact text", async () => {
    const manifest = JSON.parse(
      await readFile(new URL("../web/src/generated/persisted-documents.json", import.meta.url), "utf8"),
    );
    const entries = Object.entries(manifest as Record<string, string>);
    expect(entries.length).toBeGreaterThan(5);
    for (const [hash, document] of entries) expect(createHash("sha256").update(document).digest("hex")).toBe(hash);
  });

  it("has produced the committed typed documents for the example operations", { timeout: 60_000 }, async () => {
    const outputs: Array<{ filename: string; content: string }> = await generate({ ...config, silent: true }, false);
    expect(outputs.map((o) => o.filename).sort()).toEqual([
      "test/generated/gql.ts",
      "test/generated/graphql.ts",
      "test/generated/index.ts",
      "web/src/generated/gql.ts",
      "web/src/generated/graphql.ts",
      "web/src/generated/index.ts",
      "web/src/generated/persisted-documents.json",
    ]);
    for (const output of outputs) {
      expect(await readFile(new URL(`../${output.filename}`, import.meta.url), "utf8"), output.filename).toBe(
        output.content,
      );
    }
  });
});
