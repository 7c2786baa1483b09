// Tells every instance at once that logins were revoked, so open subscriptions and sockets that
// authenticated with them end immediately instead of at token expiry.
import { EventEmitter } from "node:events";
import type { Redis } from "ioredis";

export type RevocationListener = (loginId: string) => void;

export interface RevocationFeed {
  publish(loginIds: string[]): Promise<void>;
  /** Calls `listener` with each revoked login id; returns the unsubscribe function. */
  subscribe(listener: RevocationListener): () => void;
  close(): Promise<void>;
}

const EVENT = "revoked";

/** One instance: an in-process emitter. */
export class MemoryRevocationFeed implements RevocationFeed {
  protected readonly local = new EventEmitter().setMaxListeners(0);

  async publish(loginIds: string[]): Promise<void> {
    for (const loginId of loginIds) this.local.emit(EVENT, loginId);
  }

  subscribe(listener: RevocationListener): () => void {
    this.local.on(EVENT, listener);
    return () => this.local.off(EVENT, listener);
  }

  async close(): Promise<void> {
    this.local.removeAllListeners();
  }
}

/** Several instances: Redis pub/sub on one channel; every instance (this one too) hears each revocation. */
export class RedisRevocationFeed extends MemoryRevocationFeed {
  private readonly subscriber: Redis;
  private readonly channel: string;
  private readonly ready: Promise<unknown>;

  constructor(
    private readonly redis: Redis,
    keyPrefix: string,
  ) {
    super();
    this.channel = `${keyPrefix}:revoked-logins`;
    this.subscriber = redis.duplicate();
    this.subscriber.on("message", (_channel: string, loginId: string) => this.local.emit(EVENT, loginId));
    this.ready = this.subscriber.subscribe(this.channel);
  }

  override async publish(loginIds: string[]): Promise<void> {
    await this.ready;
    for (const loginId of loginIds) await this.redis.publish(this.channel, loginId);
  }

  override async close(): Promise<void> {
    await super.close();
    this.subscriber.disconnect();
  }
}
