// Fire-and-forget messages to every instance (this one included): in process for one instance, Redis
// pub/sub for several. For signals that must reach wherever the affected work runs (a revoked login's
// sockets, a reply being generated on another instance), not for data that must not be lost.
import { EventEmitter } from "node:events";
import type { Redis } from "ioredis";
import type { RedisSubscriber } from "./redis-connections.ts";

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
  /** Per channel, the listener on the shared subscriber connection that passes its messages on locally. */
  private readonly relays = new Map<string, { relay: (message: string) => void; subscribed: Promise<unknown> }>();

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: RedisSubscriber,
    private readonly keyPrefix: string,
  ) {
    super();
  }

  override async publish(channel: string, message: string): Promise<void> {
    await this.relays.get(channel)?.subscribed;
    await this.redis.publish(`${this.keyPrefix}:${channel}`, message);
  }

  override subscribe(channel: string, listener: BroadcastListener): () => void {
    if (!this.relays.has(channel)) {
      const relay = (message: string) => this.local.emit(channel, message);
      this.relays.set(channel, { relay, subscribed: this.subscriber.listen(`${this.keyPrefix}:${channel}`, relay) });
    }
    return super.subscribe(channel, listener);
  }

  override async close(): Promise<void> {
    await super.close();
    for (const [channel, { relay }] of this.relays) this.subscriber.unlisten(`${this.keyPrefix}:${channel}`, relay);
    this.relays.clear();
  }
}
