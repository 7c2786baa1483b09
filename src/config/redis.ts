import { z } from "zod";
import { optionalString } from "./variables.ts";

export const redisConfig = z
  .object({
    REDIS_URL: optionalString,
    REDIS_KEY_PREFIX: z.string().trim().min(1).default("agent-api"),
  })
  .transform((variables) => ({
    /** Set: reply events fan out through Redis to every instance. Unset: in-process (one instance). */
    redis: { url: variables.REDIS_URL, keyPrefix: variables.REDIS_KEY_PREFIX },
  }));
