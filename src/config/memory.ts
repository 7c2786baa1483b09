import { z } from "zod";
import { optionalString, positiveInt } from "./variables.ts";

export const memoryConfig = z
  .object({
    EMBEDDINGS_MODEL: optionalString,
    MEMORY_EXTRACTION_QUEUE_MAX: positiveInt(100),
    MEMORY_RECALL_LIMIT: positiveInt(5),
  })
  .transform((variables) => ({
    memory: {
      /** Set: recall by pgvector similarity of these embeddings (when the extension exists). Unset: full-text search. */
      embeddingsModel: variables.EMBEDDINGS_MODEL,
      extractionQueueMax: variables.MEMORY_EXTRACTION_QUEUE_MAX,
      recallLimit: variables.MEMORY_RECALL_LIMIT,
    },
  }));
