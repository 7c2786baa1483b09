// Rate limits per bucket, kept in Redis when configured (shared by every instance) and in memory otherwise.
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";

export type RateLimitBucket = "auth" | "loginEmail" | "send" | "cost" | "apiKey";

export interface BucketLimit {
  /** Points allowed per window (one per request, or the query cost for `cost`). */
  points: number;
  windowSeconds: number;
}

/** A key's allowance in one bucket's fixed window. */
export interface BucketStatus {
  limit: number;
  remaining: number;
  /** When the window ends and `remaining` is back to `limit` (epoch ms); now when nothing is spent. */
  resetsAt: number;
}

export class RateLimitedError extends Error {
  constructor(
    readonly bucket: RateLimitBucket,
    readonly retryAfterSeconds: number,
    /** The allowance the refused request found (it took nothing from it). */
    readonly status?: BucketStatus,
  ) {
    super(`Too many requests; retry in ${retryAfterSeconds} s`);
    this.name = "RateLimitedError";
  }
}

export class RateLimits {
  private readonly limiters: Record<RateLimitBucket, RateLimiterAbstract>;
  private readonly onRefused: (bucket: RateLimitBucket) => void;

  /** `onRefused` hears of every refusal (metrics); it must not throw. */
  constructor(
    limits: Record<RateLimitBucket, BucketLimit>,
    store: { redis?: Redis; keyPrefix: string; onRefused?: (bucket: RateLimitBucket) => void },
  ) {
    this.onRefused = store.onRefused ?? (() => {});
    const { redis } = store;
    const create = (bucket: RateLimitBucket) => {
      const options = {
        keyPrefix: `${store.keyPrefix}:rl:${bucket}`,
        points: limits[bucket].points,
        duration: limits[bucket].windowSeconds,
      };
      // If Redis is unreachable, fall back to this instance's memory rather than failing every request.
      return redis
        ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) })
        : new RateLimiterMemory(options);
    };
    this.limiters = {
      auth: create("auth"),
      loginEmail: create("loginEmail"),
      send: create("send"),
      cost: create("cost"),
      apiKey: create("apiKey"),
    };
  }

  limit(bucket: RateLimitBucket): number {
    return this.limiters[bucket].points;
  }

  /** Takes `points` from `key`'s allowance in `bucket`; throws RateLimitedError when they do not fit. */
  async consume(bucket: RateLimitBucket, key: string, points = 1): Promise<BucketStatus> {
    try {
      return this.toStatus(bucket, await this.limiters[bucket].consume(key, points));
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      // The limiter counted the refused points too; give them back so a request that did not fit (say, one
      // expensive query) does not also block the cheaper ones that still would.
      const status = this.toStatus(bucket, await this.limiters[bucket].reward(key, points));
      this.onRefused(bucket);
      throw new RateLimitedError(bucket, Math.max(1, Math.ceil(error.msBeforeNext / 1000)), status);
    }
  }

  /**
   * Gives back points taken by `consume` in the window that ends at `resetsAt`. Once that window is over the
   * key starts afresh anyway, and a refund would carry over into the new window as extra allowance.
   */
  async refund(bucket: RateLimitBucket, key: string, points: number, resetsAt: number): Promise<BucketStatus> {
    if (points <= 0 || Date.now() >= resetsAt) return this.status(bucket, key);
    return this.toStatus(bucket, await this.limiters[bucket].reward(key, points));
  }

  /** Forgets everything `key` spent in `bucket` (e.g. failed logins, once the password was right). */
  async reset(bucket: RateLimitBucket, key: string): Promise<void> {
    await this.limiters[bucket].delete(key);
  }

  async status(bucket: RateLimitBucket, key: string): Promise<BucketStatus> {
    const res = await this.limiters[bucket].get(key);
    return res
      ? this.toStatus(bucket, res)
      : { limit: this.limit(bucket), remaining: this.limit(bucket), resetsAt: Date.now() };
  }

  private toStatus(bucket: RateLimitBucket, res: RateLimiterRes): BucketStatus {
    return {
      limit: this.limit(bucket),
      remaining: res.remainingPoints,
      resetsAt: Date.now() + Math.max(0, res.msBeforeNext),
    };
  }
}
