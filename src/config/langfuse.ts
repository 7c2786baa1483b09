import { z } from "zod";
import { optionalString } from "./variables.ts";

export const langfuseConfig = z
  .object({
    LANGFUSE_PUBLIC_KEY: optionalString,
    LANGFUSE_SECRET_KEY: optionalString,
    LANGFUSE_BASE_URL: optionalString,
  })
  .transform((variables) => ({
    /** Tracing is off unless both keys are set. */
    langfuse: {
      publicKey: variables.LANGFUSE_PUBLIC_KEY,
      secretKey: variables.LANGFUSE_SECRET_KEY,
      baseUrl: variables.LANGFUSE_BASE_URL,
    },
  }));
