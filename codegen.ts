// `npm run codegen`: typed documents from the committed schema.graphql, for the test suite's example operations
// and for the web client's own operations. The client's documents also go into a persisted-documents manifest
// (sha256 of each document → its text): the client sends only the hash, and the API runs only what the manifest
// holds (PERSISTED_DOCUMENTS_ONLY). Both outputs are committed; test/codegen.test.ts fails when one is stale.
import { createHash } from "node:crypto";
import type { CodegenConfig } from "@graphql-codegen/cli";

/** Plain hex, as `extensions.persistedQuery.sha256Hash` carries it (the preset's own "sha256" adds a "sha256:" prefix). */
const sha256Hex = (document: string) => createHash("sha256").update(document).digest("hex");

const typedDocuments = {
  scalars: { DateTime: "string", JSON: "unknown" },
  enumsAsTypes: true,
  useTypeImports: true,
  emitLegacyCommonJSImports: false,
};

const config: CodegenConfig = {
  schema: "schema.graphql",
  generates: {
    "test/generated/": {
      documents: ["test/operations/**/*.graphql"],
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: { ...typedDocuments, scalars: { DateTime: "string" } },
    },
    "web/src/generated/": {
      documents: ["web/src/operations/**/*.graphql"],
      preset: "client",
      presetConfig: { fragmentMasking: false, persistedDocuments: { hashAlgorithm: sha256Hex } },
      config: typedDocuments,
    },
  },
  hooks: {},
};

export default config;
