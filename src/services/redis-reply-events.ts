// The reply event bus across instances: Redis pub/sub carries live events to every instance, a capped list per
// session keeps the tail for `after:` replay, and one Redis counter orders all cursors. A Lua script does all
// three atomically, so the replay order and the live order can never disagree.
import { EventEmitter, on } from "node:events";
import { Redis } from "ioredis";
import { type PublishedReplyEvent, type ReplyEvent, type ReplyEventBus, replayThenLive, unwrapFirst } from "./reply-events.ts";

const PUBLISH = `
local seq = redis.call('INCR', KEYS[1])
local payload = string.format('{"cursor":"%d",%s', seq, string.sub(ARGV[1], 2))
redis.call('RPUSH', KEYS[2], payload)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
redis.call('PUBLISH', KEYS[3], payload)
return payload`;

const LOG_TTL_SECONDS = 15 * 60;

export class RedisReplyEventBus implements ReplyEventBus {
  private readonly subscriber: Redis;
  private readonly local = new EventEmitter().setMaxListeners(0);
  /** Local subscriptions per Redis channel: SUBSCRIBE on the first, UNSUBSCRIBE after the last. */
  private readonly listeners = new Map<string, number>();
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    private readonly retentionPerSession: number,
    keyPrefix: string,
  ) {
    this.prefix = `${keyPrefix}:reply-events`;
    this.subscriber = redis.duplicate();
    // It reconnects by itself; connection errors are logged once, by the main client's listener (app.ts).
    this.subscriber.on("error", () => undefined);
    this.subscriber.on("message", (channel: string, payload: string) => this.local.emit(channel, JSON.parse(payload)));
  }

  async publish(sessionId: string, event: ReplyEvent): Promise<PublishedReplyEvent> {
    const payload = (await this.redis.eval(
      PUBLISH,
      3,
      `${this.prefix}:seq`,
      `${this.prefix}:log:${sessionId}`,
      this.channel(sessionId),
      JSON.stringify({ ...event, sessionId }),
      this.retentionPerSession,
      LOG_TTL_SECONDS,
    )) as string;
    return JSON.parse(payload) as PublishedReplyEvent;
  }

  async head(): Promise<string> {
    return (await this.redis.get(`${this.prefix}:seq`)) ?? "0";
  }

  async *subscribe(sessionId: string, options: { after?: string | null } = {}): AsyncGenerator<PublishedReplyEvent> {
    const channel = this.channel(sessionId);
    const abort = new AbortController();
    const live = on(this.local, channel, { signal: abort.signal }) as AsyncIterableIterator<[PublishedReplyEvent]>;
    await this.retain(channel);
    yield* replayThenLive({
      afterSeq: options.after ? Number(options.after) || 0 : undefined,
      seqOf: (event) => Number(event.cursor),
      replay: async () =>
        (await this.redis.lrange(`${this.prefix}:log:${sessionId}`, 0, -1)).map((raw) => JSON.parse(raw) as PublishedReplyEvent),
      live: unwrapFirst(live),
      stop: async () => {
        abort.abort();
        await this.release(channel);
      },
    });
  }

  async close(): Promise<void> {
    this.local.removeAllListeners();
    await Promise.allSettled([this.subscriber.quit(), this.redis.quit()]);
  }

  private channel(sessionId: string): string {
    return `${this.prefix}:live:${sessionId}`;
  }

  private async retain(channel: string): Promise<void> {
    const count = (this.listeners.get(channel) ?? 0) + 1;
    this.listeners.set(channel, count);
    if (count === 1) await this.subscriber.subscribe(channel);
  }

  private async release(channel: string): Promise<void> {
    const count = (this.listeners.get(channel) ?? 1) - 1;
    if (count > 0) {
      this.listeners.set(channel, count);
      return;
    }
    this.listeners.delete(channel);
    await this.subscriber.unsubscribe(channel).catch(() => undefined);
  }
}

export function connectRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: false });
}
