// Rate limits per client address, account email, user and API key; and which address is the client's.
import { z } from "zod";
import { positiveInt } from "./variables.ts";

const FIFTEEN_MINUTES = 15 * 60;
const ONE_MINUTE = 60;

export const rateLimitsConfig = z
  .object({
    RATE_LIMIT_AUTH_PER_15_MIN: positiveInt(20),
    RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN: positiveInt(10),
    RATE_LIMIT_SEND_PER_MIN: positiveInt(20),
    RATE_LIMIT_QUERY_COST_PER_MIN: positiveInt(6000),
    RATE_LIMIT_API_KEY_PER_MINUTE: positiveInt(600),
    TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  })
  .transform((variables) => ({
    rateLimits: {
      auth: { points: variables.RATE_LIMIT_AUTH_PER_15_MIN, windowSeconds: FIFTEEN_MINUTES },
      loginEmail: { points: variables.RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN, windowSeconds: FIFTEEN_MINUTES },
      send: { points: variables.RATE_LIMIT_SEND_PER_MIN, windowSeconds: ONE_MINUTE },
      /** Query cost points (see use-query-cost.ts) per user, per API key, or per client address when anonymous. */
      cost: { points: variables.RATE_LIMIT_QUERY_COST_PER_MIN, windowSeconds: ONE_MINUTE },
      /** Operations per API key (one point each), on top of the key's own send and cost buckets. */
      apiKey: { points: variables.RATE_LIMIT_API_KEY_PER_MINUTE, windowSeconds: ONE_MINUTE },
      trustedProxyHops: variables.TRUSTED_PROXY_HOPS,
    },
  }));
