// An instance's Redis connections: one for commands, one in subscriber mode for every channel it listens to (reply
// events, cancels, revocations), so subscribing never races anything else on its connection.
import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import type { Logger } from "../../observability/logger.ts";

/**
 * The command connection. ioredis reconnects by itself, and without an error listener it prints every failed attempt
 * to stderr as unhandled: with a `logger`, each outage is logged once (a repeated message is not logged again until
 * the connection is ready once more).
 */
export function connectRedis(url: string, logger?: Logger): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: false });
  if (logger) {
    let lastError = "";
    redis.on("error", (error: Error) => {
      if (error.message !== lastError) logger.warn({ err: error }, "Redis connection error (reconnecting)");
      lastError = error.message;
    });
    redis.on("ready", () => (lastError = ""));
  }
  return redis;
}

/** An instance's two connections, and the order they close in. */
export interface RedisConnections {
  commands: Redis;
  /** One subscriber connection for every channel: reply events, cancels, revocations. */
  subscriber: RedisSubscriber;
  close(): Promise<void>;
}

export function openRedisConnections(url: string, logger: Logger): RedisConnections {
  const commands = connectRedis(url, logger);
  const subscriber = new RedisSubscriber(commands);
  return {
    commands,
    subscriber,
    async close() {
      await subscriber.close();
      await commands.quit().catch(() => commands.disconnect());
    },
  };
}

export type ChannelListener = (payload: string) => void;

/** A subscriber-mode connection's options: nothing but (UN)SUBSCRIBE is ever sent on it (see RedisSubscriber). */
export const SUBSCRIBER_OPTIONS = { enableReadyCheck: false, disableClientInfo: true } as const;

/**
 * The instance's one subscriber connection. A channel is SUBSCRIBEd with its first listener and UNSUBSCRIBEd after
 * its last; each message is handed to the channel's listeners as the raw payload.
 */
export class RedisSubscriber {
  private readonly connection: Redis;
  private readonly listeners = new EventEmitter().setMaxListeners(0);
  /** Per channel: its SUBSCRIBE, resolved once Redis confirmed it. */
  private readonly subscribed = new Map<string, Promise<unknown>>();

  constructor(redis: Redis) {
    // A subscriber-mode connection may send nothing but (UN)SUBSCRIBE: with ioredis 5's ready check (INFO) or client
    // info (CLIENT SETINFO) on, a SUBSCRIBE queued while connecting could be written first, and the INFO reply
    // "Connection in subscriber mode" became an uncaught error that killed the process right after start.
    this.connection = redis.duplicate(SUBSCRIBER_OPTIONS);
    // It reconnects (and re-subscribes) by itself; connection errors are logged once, by the command connection's
    // listener (connectRedis).
    this.connection.on("error", () => undefined);
    this.connection.on("message", (channel: string, payload: string) => this.listeners.emit(channel, payload));
  }

  /** Adds a listener; resolves once the channel is subscribed (at once when it was already). */
  listen(channel: string, listener: ChannelListener): Promise<unknown> {
    this.listeners.on(channel, listener);
    let subscribed = this.subscribed.get(channel);
    if (!subscribed) {
      subscribed = this.connection.subscribe(channel);
      // A failed SUBSCRIBE is retried by the next listener rather than remembered.
      subscribed.catch(() => this.subscribed.get(channel) === subscribed && this.subscribed.delete(channel));
      this.subscribed.set(channel, subscribed);
    }
    return subscribed;
  }

  /** Synchronous bookkeeping; the UNSUBSCRIBE after the channel's last listener is sent now, not waited for. */
  unlisten(channel: string, listener: ChannelListener): void {
    this.listeners.off(channel, listener);
    if (this.listeners.listenerCount(channel) > 0 || !this.subscribed.delete(channel)) return;
    this.connection.unsubscribe(channel).catch(() => undefined);
  }

  listenerCount(channel: string): number {
    return this.listeners.listenerCount(channel);
  }

  async close(): Promise<void> {
    this.listeners.removeAllListeners();
    this.subscribed.clear();
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}
