// Rate limits per bucket, kept in Redis when configured (shared by every instance) and in memory otherwise.
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";

export type RateLimitBucket = "auth" | "loginEmail" | "send" | "read";

export interface BucketLimit {
  /** Requests allowed per window. */
  points: number;
  windowSeconds: number;
}

export class RateLimitedError extends Error {
  constructor(
    readonly bucket: RateLimitBucket,
    readonly retryAfterSeconds: number,
  ) {
    super(`Too many requests; retry in ${retryAfterSeconds} s`);
    this.name = "RateLimitedError";
  }
}

export class RateLimits {
  private readonly limiters: Record<RateLimitBucket, RateLimiterAbstract>;

  constructor(limits: Record<RateLimitBucket, BucketLimit>, store: { redis?: Redis; keyPrefix: string }) {
    const { redis } = store;
    const create = (bucket: RateLimitBucket) => {
      const options = { keyPrefix: `${store.keyPrefix}:rl:${bucket}`, points: limits[bucket].points, duration: limits[bucket].windowSeconds };
      // If Redis is unreachable, fall back to this instance's memory rather than failing every request.
      return redis
        ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) })
        : new RateLimiterMemory(options);
    };
    this.limiters = {
      auth: create("auth"),
      loginEmail: create("loginEmail"),
      send: create("send"),
      read: create("read"),
    };
  }

  /** Takes one point from `key`'s allowance in `bucket`; throws RateLimitedError when there is none left. */
  async consume(bucket: RateLimitBucket, key: string): Promise<void> {
    try {
      await this.limiters[bucket].consume(key);
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        throw new RateLimitedError(bucket, Math.max(1, Math.ceil(error.msBeforeNext / 1000)));
      }
      throw error;
    }
  }
}
