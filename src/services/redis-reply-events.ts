// The reply event bus across instances: Redis pub/sub carries live events to every instance, a capped list per
// session keeps the tail for `after:` replay, and a per-session meta hash (the log's generation and sequence) numbers
// the cursors. A Lua script does all of it atomically, so the replay order and the live order can never disagree.
import { EventEmitter, on } from "node:events";
import { Redis } from "ioredis";
import { type PublishedReplyEvent, type ReplyEvent, type ReplyEventBus, replayThenLive, unwrapFirst } from "./reply-events.ts";

// KEYS[1] the session's meta hash {gen, seq}, KEYS[2] its event list. A missing meta means a new log: it gets a
// generation from the server clock (a log started again after expiry never continues an old cursor), and any list
// left without its meta is dropped. Both keys share one TTL, refreshed on every publish.
const START_LOG = `
local function start_log()
  local t = redis.call('TIME')
  local gen = string.format('%x%05x', tonumber(t[1]), tonumber(t[2]))
  redis.call('HSET', KEYS[1], 'gen', gen, 'seq', 0)
  redis.call('DEL', KEYS[2])
  return gen
end`;

// ARGV: the event as a JSON object, the retention, the TTL in seconds. KEYS[3] is the live channel.
const PUBLISH = `${START_LOG}
local gen = redis.call('HGET', KEYS[1], 'gen') or start_log()
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local payload = string.format('{"cursor":"%s:%d",%s', gen, seq, string.sub(ARGV[1], 2))
redis.call('RPUSH', KEYS[2], payload)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
redis.call('PUBLISH', KEYS[3], payload)
return payload`;

// ARGV: the TTL in seconds (for a log started here).
const HEAD = `${START_LOG}
local gen = redis.call('HGET', KEYS[1], 'gen')
if not gen then
  gen = start_log()
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return gen .. ':' .. redis.call('HGET', KEYS[1], 'seq')`;

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
      this.metaKey(sessionId),
      this.eventsKey(sessionId),
      this.channel(sessionId),
      JSON.stringify({ ...event, sessionId }),
      this.retentionPerSession,
      LOG_TTL_SECONDS,
    )) as string;
    return JSON.parse(payload) as PublishedReplyEvent;
  }

  async head(sessionId: string): Promise<string> {
    return (await this.redis.eval(HEAD, 2, this.metaKey(sessionId), this.eventsKey(sessionId), LOG_TTL_SECONDS)) as string;
  }

  async *subscribe(sessionId: string, options: { after?: string | null } = {}): AsyncGenerator<PublishedReplyEvent> {
    const channel = this.channel(sessionId);
    const abort = new AbortController();
    const live = on(this.local, channel, { signal: abort.signal }) as AsyncIterableIterator<[PublishedReplyEvent]>;
    await this.retain(channel);
    yield* replayThenLive({
      after: options.after,
      replay: async () =>
        (await this.redis.lrange(this.eventsKey(sessionId), 0, -1)).map((raw) => JSON.parse(raw) as PublishedReplyEvent),
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

  private metaKey(sessionId: string): string {
    return `${this.prefix}:meta:${sessionId}`;
  }

  /** Not the older `log:` list (global cursors), which instances of the previous version may still write. */
  private eventsKey(sessionId: string): string {
    return `${this.prefix}:events:${sessionId}`;
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
