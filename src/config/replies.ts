import { z } from "zod";
import { positiveInt } from "./variables.ts";

export const repliesConfig = z
  .object({
    REPLIES_MAX_RUNNING: positiveInt(1000),
    REPLIES_MAX_QUEUED: z.coerce.number().int().min(0).default(2000),
    REPLIES_MAX_EVENT_LOOP_LAG_MS: positiveInt(1000),
    REPLY_LEASE_MS: z.coerce.number().int().min(1_000, "must be at least 1000 ms").default(10_000),
    REPLY_PARTIAL_FLUSH_MS: positiveInt(1000),
  })
  .transform((variables) => ({
    /** Admission control per instance: replies generating at once, and waiting for a slot (OVERLOADED beyond). */
    replies: {
      maxRunning: variables.REPLIES_MAX_RUNNING,
      maxQueued: variables.REPLIES_MAX_QUEUED,
      maxEventLoopLagMs: variables.REPLIES_MAX_EVENT_LOOP_LAG_MS,
      leaseMs: variables.REPLY_LEASE_MS,
      partialFlushMs: variables.REPLY_PARTIAL_FLUSH_MS,
    },
  }));
