// The reply event bus across instances: Redis pub/sub carries live events to every instance, a capped list per
// session keeps the tail for `after:` replay, and a per-session meta hash (the log's generation and sequence) numbers
// the cursors. A Lua script does all of it atomically, so the replay order and the live order can never disagree.
import { EventEmitter } from "node:events";
import type { Redis } from "ioredis";
import type { RedisSubscriber } from "./redis-connections.ts";
import {
  DEFAULT_MAX_PENDING_EVENTS,
  formatCursor,
  parseCursor,
  replayMisses,
  snapshotAfterGap,
  type ReplyStreamEvent,
  type PublishedReplyEvent,
  type ReplyEvent,
  type ReplyEventBus,
  type ReplyEventBusOptions,
  type ReplyEventStream,
  ReplySubscription,
} from "./reply-events.ts";

// KEYS[1] the session's meta hash {gen, seq, reply}, KEYS[2] its event list, KEYS[3] the text of its latest reply
// (since that reply's last restart, for snapshots). A missing meta means a new log: it gets a generation from the
// server clock (a log started again after expiry never continues an old cursor), and what is left of an older log
// is dropped. All keys share one TTL, refreshed on every publish.
const START_LOG = `
local function start_log(ttl)
  local t = redis.call('TIME')
  local gen = string.format('%x%05x', tonumber(t[1]), tonumber(t[2]))
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'gen', gen, 'seq', 0)
  redis.call('EXPIRE', KEYS[1], ttl)
  return gen
end`;

// ARGV: the event as a JSON object, the retention, the TTL in seconds, the event's message id, its kind ('d' delta,
// 'r' restarted, '' other), a delta's text. KEYS[4] is the live channel. Stored and published with its cursor first
// (`{"cursor":"<gen>:<seq>",...`); returns the cursor alone, so the publisher parses nothing back.
const PUBLISH = `${START_LOG}
local ttl = tonumber(ARGV[3])
local gen = redis.call('HGET', KEYS[1], 'gen') or start_log(ttl)
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local cursor = string.format('%s:%d', gen, seq)
local payload = string.format('{"cursor":"%s",%s', cursor, string.sub(ARGV[1], 2))
redis.call('RPUSH', KEYS[2], payload)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
if redis.call('HGET', KEYS[1], 'reply') ~= ARGV[4] or ARGV[5] == 'r' then
  redis.call('HSET', KEYS[1], 'reply', ARGV[4])
  redis.call('SET', KEYS[3], '')
end
if ARGV[5] == 'd' then redis.call('APPEND', KEYS[3], ARGV[6]) end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('PUBLISH', KEYS[4], payload)
return cursor`;

// ARGV: the TTL in seconds (for a log started here).
const HEAD = `${START_LOG}
local gen = redis.call('HGET', KEYS[1], 'gen') or start_log(tonumber(ARGV[1]))
return gen .. ':' .. redis.call('HGET', KEYS[1], 'seq')`;

// ARGV: the TTL (for a log started here), '1' to return the retained events too. One consistent view of the log:
// {gen, seq, latest reply's id or '', its text, events...}.
const READ = `${START_LOG}
local gen = redis.call('HGET', KEYS[1], 'gen') or start_log(tonumber(ARGV[1]))
local meta = redis.call('HMGET', KEYS[1], 'seq', 'reply')
local view = {gen, meta[1], meta[2] or '', redis.call('GET', KEYS[3]) or ''}
if ARGV[2] == '1' then
  for _, payload in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do view[#view + 1] = payload end
end
return view`;

const LOG_TTL_SECONDS = 15 * 60;

/** The scripts as commands (ioredis sends EVALSHA, and the script only when Redis does not have it yet). */
interface ReplyEventCommands {
  replyEventsPublish(
    meta: string,
    events: string,
    text: string,
    channel: string,
    event: string,
    retention: number,
    ttl: number,
    messageId: string,
    kind: string,
    delta: string,
  ): Promise<string>;
  replyEventsHead(meta: string, events: string, text: string, ttl: number): Promise<string>;
  replyEventsRead(meta: string, events: string, text: string, ttl: number, withEvents: "0" | "1"): Promise<string[]>;
}

/** What a stored or published payload starts with: its cursor (see PUBLISH). */
const CURSOR_START = '{"cursor":"'.length;

export class RedisReplyEventBus implements ReplyEventBus {
  private readonly commands: ReplyEventCommands;
  private readonly local = new EventEmitter().setMaxListeners(0);
  /** Per Redis channel, the one listener that parses its payloads for every local subscription, and its SUBSCRIBE. */
  private readonly parsers = new Map<string, { parse: (payload: string) => void; subscribed: Promise<unknown> }>();
  private readonly subscriptions = new Set<ReplySubscription>();
  private readonly prefix: string;
  private readonly maxPendingEvents: number;
  private readonly latestFromDatabase: ReplyEventBusOptions["latestReply"];

  constructor(
    redis: Redis,
    private readonly subscriber: RedisSubscriber,
    private readonly retentionPerSession: number,
    keyPrefix: string,
    { maxPendingEvents = DEFAULT_MAX_PENDING_EVENTS, latestReply }: ReplyEventBusOptions = {},
  ) {
    this.prefix = `${keyPrefix}:reply-events`;
    this.maxPendingEvents = maxPendingEvents;
    this.latestFromDatabase = latestReply;
    redis.defineCommand("replyEventsPublish", { numberOfKeys: 4, lua: PUBLISH });
    redis.defineCommand("replyEventsHead", { numberOfKeys: 3, lua: HEAD });
    redis.defineCommand("replyEventsRead", { numberOfKeys: 3, lua: READ });
    this.commands = redis as unknown as ReplyEventCommands;
  }

  async publish(sessionId: string, event: ReplyEvent): Promise<PublishedReplyEvent> {
    const cursor = await this.commands.replyEventsPublish(
      ...this.keys(sessionId),
      this.channel(sessionId),
      JSON.stringify({ ...event, sessionId }),
      this.retentionPerSession,
      LOG_TTL_SECONDS,
      event.messageId,
      event.type === "delta" ? "d" : event.type === "restarted" ? "r" : "",
      event.type === "delta" ? event.delta : "",
    );
    return { ...event, sessionId, cursor };
  }

  async head(sessionId: string): Promise<string> {
    return this.commands.replyEventsHead(...this.keys(sessionId), LOG_TTL_SECONDS);
  }

  async subscribe(sessionId: string, { after }: { after?: string | null } = {}): Promise<ReplyEventStream> {
    const channel = this.channel(sessionId);
    const subscription: ReplySubscription = new ReplySubscription(sessionId, {
      after,
      maxPendingEvents: this.maxPendingEvents,
      release: () => {
        this.local.off(channel, subscription.push);
        this.subscriptions.delete(subscription);
        if (this.local.listenerCount(channel) === 0) this.stopParsing(channel);
      },
    });
    // Listening (and subscribed) before the log is read, so nothing published in between is missed; what both
    // deliver is taken once.
    this.local.on(channel, subscription.push);
    this.subscriptions.add(subscription);
    try {
      await this.startParsing(channel);
      subscription.open(after ? await this.replay(sessionId, after) : []);
    } catch (error) {
      void subscription.return();
      throw error;
    }
    return subscription;
  }

  async latestReply(sessionId: string): Promise<{ messageId: string; text: string } | undefined> {
    const [, , messageId, text] = await this.commands.replyEventsRead(...this.keys(sessionId), LOG_TTL_SECONDS, "0");
    return messageId ? { messageId, text: text ?? "" } : undefined;
  }

  listenerCount(sessionId: string): number {
    return this.local.listenerCount(this.channel(sessionId));
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions) void subscription.return();
    this.local.removeAllListeners();
    for (const channel of [...this.parsers.keys()]) this.stopParsing(channel);
  }

  /**
   * What a subscription with `after` gets before live events: the retained events after it (those before it in its
   * generation are not parsed), or a snapshot when some are no longer retained.
   */
  private async replay(sessionId: string, after: string): Promise<ReplyStreamEvent[]> {
    const [generation, seq, messageId, text, ...payloads] = await this.commands.replyEventsRead(
      ...this.keys(sessionId),
      LOG_TTL_SECONDS,
      "1",
    );
    const head = { generation: generation!, seq: Number(seq) };
    const oldestSeq = payloads.length > 0 ? seqOf(payloads[0]!) : head.seq + 1;
    if (replayMisses(after, { ...head, oldestSeq })) {
      const known = messageId ? { messageId, text: text ?? "" } : undefined;
      return snapshotAfterGap(sessionId, formatCursor(head), known, this.latestFromDatabase);
    }
    const afterSeq = parseCursor(after)!.seq;
    const events: PublishedReplyEvent[] = [];
    for (const payload of payloads) {
      if (seqOf(payload) > afterSeq) events.push(JSON.parse(payload) as PublishedReplyEvent);
    }
    return events;
  }

  private keys(sessionId: string): [meta: string, events: string, text: string] {
    // Not the older `log:` list (global cursors), which instances of an older version may still write.
    return [
      `${this.prefix}:meta:${sessionId}`,
      `${this.prefix}:events:${sessionId}`,
      `${this.prefix}:text:${sessionId}`,
    ];
  }

  private channel(sessionId: string): string {
    return `${this.prefix}:live:${sessionId}`;
  }

  /** Resolves once the channel is subscribed; its payloads are parsed once per instance, however many listen. */
  private startParsing(channel: string): Promise<unknown> {
    let parser = this.parsers.get(channel);
    if (!parser) {
      const parse = (payload: string) => this.local.emit(channel, JSON.parse(payload));
      parser = { parse, subscribed: this.subscriber.listen(channel, parse) };
      this.parsers.set(channel, parser);
    }
    return parser.subscribed;
  }

  private stopParsing(channel: string): void {
    const parser = this.parsers.get(channel);
    if (!parser) return;
    this.parsers.delete(channel);
    this.subscriber.unlisten(channel, parser.parse);
  }
}

/** A stored payload's sequence number, read from its leading cursor without parsing the rest. */
function seqOf(payload: string): number {
  const end = payload.indexOf('"', CURSOR_START);
  return Number(payload.slice(payload.lastIndexOf(":", end) + 1, end));
}
