// Fire-and-forget messages to every instance (this one included): in process for one instance, Redis
// pub/sub for several. For signals that must reach wherever the affected work runs (a revoked login's
// sockets, a reply being generated on another instance), not for data that must not be lost.
import { EventEmitter } from "node:events";
import type { Redis } from "ioredis";

export type BroadcastListener = (message: string) => void;

export interface Broadcast {
  publish(channel: string, message: string): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(channel: string, listener: BroadcastListener): () => void;
  close(): Promise<void>;
}

export class MemoryBroadcast implements Broadcast {
  protected readonly local = new EventEmitter().setMaxListeners(0);

  async publish(channel: string, message: string): Promise<void> {
    this.local.emit(channel, message);
  }

  subscribe(channel: string, listener: BroadcastListener): () => void {
    this.local.on(channel, listener);
    return () => this.local.off(channel, listener);
  }

  async close(): Promise<void> {
    this.local.removeAllListeners();
  }
}

export class RedisBroadcast extends MemoryBroadcast {
  private readonly subscriber: Redis;
  private readonly subscribed = new Map<string, Promise<unknown>>();

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
  ) {
    super();
    this.subscriber = redis.duplicate();
    // It reconnects by itself; connection errors are logged once, by the main client's listener (app.ts).
    this.subscriber.on("error", () => undefined);
    this.subscriber.on("message", (channel: string, message: string) =>
      this.local.emit(channel.slice(this.keyPrefix.length + 1), message),
    );
  }

  override async publish(channel: string, message: string): Promise<void> {
    await this.subscribed.get(channel);
    await this.redis.publish(`${this.keyPrefix}:${channel}`, message);
  }

  override subscribe(channel: string, listener: BroadcastListener): () => void {
    if (!this.subscribed.has(channel)) this.subscribed.set(channel, this.subscriber.subscribe(`${this.keyPrefix}:${channel}`));
    return super.subscribe(channel, listener);
  }

  override async close(): Promise<void> {
    await super.close();
    this.subscriber.disconnect();
  }
}
