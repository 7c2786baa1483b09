// Trusted documents (src/api/persisted-documents.ts).
import { z } from "zod";
import type { Environment } from "./app-env.ts";
import { flag } from "./variables.ts";

export const persistedDocumentsConfig = ({ local }: Environment) =>
  z
    .object({
      PERSISTED_DOCUMENTS_PATH: z.string().trim().min(1).default("web/src/generated/persisted-documents.json"),
      PERSISTED_DOCUMENTS_ONLY: flag,
    })
    .transform((variables) => ({
      persistedDocuments: {
        /** The manifest: hex SHA-256 of each document → its text; relative to the working directory. */
        path: variables.PERSISTED_DOCUMENTS_PATH,
        /**
         * Query text is refused (PERSISTED_QUERY_ONLY) unless an API key authenticates the request; the manifest must
         * exist. Deployed apps run only what their build produced; developers edit queries freely.
         */
        only: variables.PERSISTED_DOCUMENTS_ONLY ?? !local,
      },
    }));
