import { z } from "zod";
import { positiveInt } from "./variables.ts";

export const lifecycleConfig = z.object({ SHUTDOWN_GRACE_MS: positiveInt(10_000) }).transform((variables) => ({
  lifecycle: {
    /** On SIGTERM, running replies get this long to finish before they are cut off (INTERRUPTED). */
    shutdownGraceMs: variables.SHUTDOWN_GRACE_MS,
  },
}));
