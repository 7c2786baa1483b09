// The reply event bus across instances: Redis pub/sub carries live events to every instance, a capped list per
// session keeps the tail for `after:` replay, and a per-session meta hash (the log's generation and sequence) numbers
// the cursors. A Lua script does all of it atomically, so the replay order and the live order can never disagree.
import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import {
  DEFAULT_MAX_PENDING_EVENTS,
  type PublishedReplyEvent,
  type ReplyEvent,
  type ReplyEventBus,
  type ReplyEventBusOptions,
  type ReplyEventStream,
  ReplySubscription,
} from "./reply-events.ts";

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

// ARGV: the event as a JSON object, the retention, the TTL in seconds. KEYS[3] is the live channel. Stored and
// published with its cursor first (`{"cursor":"<gen>:<seq>",...`); returns the cursor alone, so the publisher
// parses nothing back.
const PUBLISH = `${START_LOG}
local gen = redis.call('HGET', KEYS[1], 'gen') or start_log()
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local cursor = string.format('%s:%d', gen, seq)
local payload = string.format('{"cursor":"%s",%s', cursor, string.sub(ARGV[1], 2))
redis.call('RPUSH', KEYS[2], payload)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
redis.call('PUBLISH', KEYS[3], payload)
return cursor`;

// ARGV: the TTL in seconds (for a log started here).
const HEAD = `${START_LOG}
local gen = redis.call('HGET', KEYS[1], 'gen')
if not gen then
  gen = start_log()
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return gen .. ':' .. redis.call('HGET', KEYS[1], 'seq')`;

const LOG_TTL_SECONDS = 15 * 60;

/** The scripts as commands (ioredis sends EVALSHA, and the script only when Redis does not have it yet). */
interface ReplyEventCommands {
  replyEventsPublish(meta: string, events: string, channel: string, event: string, retention: number, ttl: number): Promise<string>;
  replyEventsHead(meta: string, events: string, ttl: number): Promise<string>;
}

/** What a stored or published payload starts with: its cursor (see PUBLISH). */
const CURSOR_START = '{"cursor":"'.length;

export class RedisReplyEventBus implements ReplyEventBus {
  private readonly subscriber: Redis;
  private readonly commands: ReplyEventCommands;
  private readonly local = new EventEmitter().setMaxListeners(0);
  /** Local subscriptions per Redis channel, and its SUBSCRIBE: sent with the first, UNSUBSCRIBE after the last. */
  private readonly channels = new Map<string, { count: number; subscribed: Promise<unknown> }>();
  private readonly subscriptions = new Set<ReplySubscription>();
  private readonly prefix: string;
  private readonly maxPendingEvents: number;

  constructor(
    private readonly redis: Redis,
    private readonly retentionPerSession: number,
    keyPrefix: string,
    { maxPendingEvents = DEFAULT_MAX_PENDING_EVENTS }: ReplyEventBusOptions = {},
  ) {
    this.prefix = `${keyPrefix}:reply-events`;
    this.maxPendingEvents = maxPendingEvents;
    redis.defineCommand("replyEventsPublish", { numberOfKeys: 3, lua: PUBLISH });
    redis.defineCommand("replyEventsHead", { numberOfKeys: 2, lua: HEAD });
    this.commands = redis as unknown as ReplyEventCommands;
    this.subscriber = redis.duplicate();
    // It reconnects by itself; connection errors are logged once, by the main client's listener (app.ts).
    this.subscriber.on("error", () => undefined);
    // Parsed once per instance, whatever the number of local subscriptions sharing the event.
    this.subscriber.on("message", (channel: string, payload: string) => {
      if (this.local.listenerCount(channel) > 0) this.local.emit(channel, JSON.parse(payload));
    });
  }

  async publish(sessionId: string, event: ReplyEvent): Promise<PublishedReplyEvent> {
    const cursor = await this.commands.replyEventsPublish(
      this.metaKey(sessionId),
      this.eventsKey(sessionId),
      this.channel(sessionId),
      JSON.stringify({ ...event, sessionId }),
      this.retentionPerSession,
      LOG_TTL_SECONDS,
    );
    return { ...event, sessionId, cursor };
  }

  async head(sessionId: string): Promise<string> {
    return this.commands.replyEventsHead(this.metaKey(sessionId), this.eventsKey(sessionId), LOG_TTL_SECONDS);
  }

  async subscribe(sessionId: string, { after }: { after?: string | null } = {}): Promise<ReplyEventStream> {
    const channel = this.channel(sessionId);
    const subscription: ReplySubscription = new ReplySubscription(sessionId, {
      after,
      maxPendingEvents: this.maxPendingEvents,
      release: () => {
        this.local.off(channel, subscription.push);
        this.subscriptions.delete(subscription);
        this.release(channel);
      },
    });
    // Listening (and subscribed) before the log is read, so nothing published in between is missed; what both
    // deliver is taken once.
    this.local.on(channel, subscription.push);
    this.subscriptions.add(subscription);
    try {
      await this.retain(channel);
      subscription.open(after ? await this.retained(sessionId, after) : []);
    } catch (error) {
      void subscription.return();
      throw error;
    }
    return subscription;
  }

  listenerCount(sessionId: string): number {
    return this.local.listenerCount(this.channel(sessionId));
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions) void subscription.return();
    this.local.removeAllListeners();
    await Promise.allSettled([this.subscriber.quit(), this.redis.quit()]);
  }

  /** The session log's events, oldest first; those before `after` in its generation are not parsed. */
  private async retained(sessionId: string, after: string): Promise<PublishedReplyEvent[]> {
    const payloads = await this.redis.lrange(this.eventsKey(sessionId), 0, -1);
    // Same generation and a number not above `after`'s: skipped (a whole-cursor prefix match keeps it exact).
    const colon = after.lastIndexOf(":");
    const generation = colon > 0 ? after.slice(0, colon + 1) : undefined;
    const seq = generation ? Number(after.slice(colon + 1)) : Number.NaN;
    const events: PublishedReplyEvent[] = [];
    for (const payload of payloads) {
      if (generation && payload.startsWith(generation, CURSOR_START)) {
        const end = payload.indexOf('"', CURSOR_START);
        if (Number(payload.slice(CURSOR_START + generation.length, end)) <= seq) continue;
      }
      events.push(JSON.parse(payload) as PublishedReplyEvent);
    }
    return events;
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

  /** Resolves once the channel is subscribed (at once when another local subscription holds it already). */
  private retain(channel: string): Promise<unknown> {
    let held = this.channels.get(channel);
    if (!held) {
      held = { count: 0, subscribed: this.subscriber.subscribe(channel) };
      this.channels.set(channel, held);
    }
    held.count += 1;
    return held.subscribed;
  }

  /** Synchronous bookkeeping; the UNSUBSCRIBE is sent now and not waited for (commands keep their order). */
  private release(channel: string): void {
    const held = this.channels.get(channel);
    if (!held || --held.count > 0) return;
    this.channels.delete(channel);
    this.subscriber.unsubscribe(channel).catch(() => undefined);
  }
}

export function connectRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: false });
}
