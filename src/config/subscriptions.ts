import { z } from "zod";
import { positiveInt } from "./variables.ts";

export const subscriptionsConfig = z
  .object({
    MAX_SUBSCRIPTIONS_PER_USER: positiveInt(20),
    MAX_SUBSCRIPTIONS_PER_CONNECTION: positiveInt(10),
    MAX_SSE_STREAMS_PER_USER: positiveInt(5),
  })
  .transform((variables) => ({
    /** Subscriptions held at once, per instance (SUBSCRIPTION_LIMIT_EXCEEDED beyond). */
    subscriptions: {
      maxPerUser: variables.MAX_SUBSCRIPTIONS_PER_USER,
      maxPerConnection: variables.MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxSseStreamsPerUser: variables.MAX_SSE_STREAMS_PER_USER,
    },
  }));
