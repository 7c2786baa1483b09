// The reply event path: agent run → bus → subscriptions. Events carry ids and text, never GraphQL shapes.
// Each session has its own event log: a bounded tail of its events, numbered by a per-session sequence, so a client
// that subscribes late (or reconnects) can ask for everything after the cursor it last saw. A cursor names the log's
// generation and the event's number in it (`<generation>:<seq>`): it counts that session's events only, and a log
// that is dropped and started again (idle, restart) gets a new generation, so an old cursor never names a new event.
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";

export type ReplyEvent =
  /** The reply waits for a run slot on its instance (admission control); `position` in line when it began to wait. */
  | { type: "queued"; messageId: string; position: number }
  | { type: "delta"; messageId: string; delta: string }
  | { type: "restarted"; messageId: string; reason: string }
  | { type: "toolStarted"; messageId: string; toolCallId: string; name: string; arguments: Record<string, unknown> }
  | { type: "toolFinished"; messageId: string; toolCallId: string; name: string; result: string; isError: boolean }
  | { type: "completed"; messageId: string }
  | { type: "cancelled"; messageId: string }
  | { type: "failed"; messageId: string; code: string; reason: string };

export type PublishedReplyEvent = ReplyEvent & { sessionId: string; cursor: string };

/**
 * Never published: what a subscriber gets first when its `after` is older than the events still retained (or names
 * a log that is gone), instead of a silent partial replay. `text` is the whole text of the session's latest reply as
 * of `cursor` (after its last restart); the events that follow continue it. `messageId` is null when the bus no
 * longer knows the reply (see `ReplyEventBusOptions.latestReply`).
 */
export interface ReplySnapshot {
  type: "snapshot";
  sessionId: string;
  cursor: string;
  messageId: string;
  text: string;
}

/** What a subscription hands out as events: published ones, and a snapshot first after a gap. */
export type ReplyStreamEvent = PublishedReplyEvent | ReplySnapshot;

/**
 * The last item of a subscription that fell too far behind (more than `maxPendingEvents` events it had not read,
 * after merging deltas): everything it held was let go when it was queued, and the stream ends after it. The
 * client resumes with `after: resumeAfter`, the cursor of the last event it was given (or the one it subscribed
 * with), and misses nothing that is still retained.
 */
export interface ReplyStreamOverflow {
  type: "overflow";
  sessionId: string;
  resumeAfter: string | null;
  /** Events waiting when it overflowed. */
  pending: number;
}

export type ReplyStreamItem = ReplyStreamEvent | ReplyStreamOverflow;

/**
 * One subscription's events. `return()` ends it at once, a `next()` still waiting included, and lets go of
 * everything it holds (its listener, and on Redis the channel once no local subscription needs it).
 */
export interface ReplyEventStream extends AsyncIterableIterator<ReplyStreamItem> {
  next(): Promise<IteratorResult<ReplyStreamItem, undefined>>;
  return(): Promise<IteratorReturnResult<undefined>>;
}

export interface ReplyEventBus {
  publish(sessionId: string, event: ReplyEvent): Promise<PublishedReplyEvent>;
  /**
   * Cursor of the session's newest event (starting its log when there is none), so `subscribe({ after })` from it
   * receives everything the session publishes later.
   */
  head(sessionId: string): Promise<string>;
  /**
   * Live events of one session, listening from the moment it resolves. With `after`, what came after that cursor
   * comes first: the retained events after it, or, when some of them are no longer retained (the cursor is older
   * than the retained tail, or names a log that was dropped), a `ReplySnapshot` of the latest reply instead. Events
   * waiting to be read are merged where they can be (see `ReplySubscription`).
   */
  subscribe(sessionId: string, options?: { after?: string | null }): Promise<ReplyEventStream>;
  /** The session's latest reply as the log knows it (its text after its last restart), if the log knows one. */
  latestReply(sessionId: string): Promise<{ messageId: string; text: string } | undefined>;
  /** Subscriptions to this session held on this instance (what a subscription's end gives back). */
  listenerCount(sessionId: string): number;
  /** Ends every subscription and lets go of the bus's connections. */
  close(): Promise<void>;
}

export interface ReplyEventBusOptions {
  /**
   * Events one subscription may hold unread, after its deltas were merged, before it is ended with an overflow
   * item (see `ReplyStreamOverflow`).
   * @default 1000
   */
  maxPendingEvents?: number;
  /**
   * The session's latest reply from the database, for a snapshot after a gap when the log knows no reply (it was
   * dropped, or the reply ended before the log started again).
   */
  latestReply?: (sessionId: string) => Promise<{ messageId: string; text: string } | undefined>;
}

export const DEFAULT_MAX_PENDING_EVENTS = 1000;

/** Where an event sits: its session log's generation and its number in that generation (from 1). */
export interface EventPosition {
  generation: string;
  seq: number;
}

export function formatCursor({ generation, seq }: EventPosition): string {
  return `${generation}:${seq}`;
}

/** Undefined when the text is not a cursor of this format (an older format, or made up). */
export function parseCursor(cursor: string): EventPosition | undefined {
  const colon = cursor.lastIndexOf(":");
  if (colon <= 0) return undefined;
  const seq = seqAt(cursor, colon + 1);
  return Number.isNaN(seq) ? undefined : { generation: cursor.slice(0, colon), seq };
}

/** The decimal number that ends `text` from `start`; NaN when it is empty, not all digits, or too long. */
function seqAt(text: string, start: number): number {
  const length = text.length - start;
  if (length <= 0 || length > 15) return Number.NaN;
  let seq = 0;
  for (let i = start; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return Number.NaN;
    seq = seq * 10 + digit;
  }
  return seq;
}

interface SessionLog {
  generation: string;
  seq: number;
  events: PublishedReplyEvent[];
  lastUsedAt: number;
  /** The latest reply with an event in this log, and its text since its last restart (for snapshots). */
  reply?: { messageId: string; text: string };
}

/**
 * Whether the retained events after `after` would not be all that came after it: the cursor cannot be read, names
 * another generation of the log (one that was dropped), or is older than the oldest event retained.
 */
export function replayMisses(after: string, log: { generation: string; seq: number; oldestSeq: number }): boolean {
  const at = parseCursor(after);
  if (!at || at.generation !== log.generation) return true;
  return at.seq < Math.min(log.oldestSeq, log.seq + 1) - 1;
}

/** What a subscriber gets after a gap: the latest reply the log knows, else the database's, as of `cursor`. */
export async function snapshotAfterGap(
  sessionId: string,
  cursor: string,
  known: { messageId: string; text: string } | undefined,
  fromDatabase: ReplyEventBusOptions["latestReply"],
): Promise<ReplySnapshot[]> {
  const reply = known ?? (await fromDatabase?.(sessionId));
  return reply ? [{ type: "snapshot", sessionId, cursor, ...reply }] : [];
}

/** The text a reply's events add up to, event by event (what a snapshot gives). */
function followReply(
  reply: { messageId: string; text: string } | undefined,
  event: ReplyEvent,
): { messageId: string; text: string } {
  const current = reply?.messageId === event.messageId ? reply : { messageId: event.messageId, text: "" };
  if (event.type === "delta") current.text += event.delta;
  else if (event.type === "restarted") current.text = "";
  return current;
}

const IDLE_LOG_TTL_MS = 15 * 60_000;

/** In-process bus for a single instance (the embedded default). */
export class MemoryReplyEventBus implements ReplyEventBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private readonly logs = new Map<string, SessionLog>();
  private readonly subscriptions = new Set<ReplySubscription>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly maxPendingEvents: number;
  private readonly latestFromDatabase: ReplyEventBusOptions["latestReply"];

  constructor(
    private readonly retentionPerSession: number,
    { maxPendingEvents = DEFAULT_MAX_PENDING_EVENTS, latestReply }: ReplyEventBusOptions = {},
  ) {
    this.maxPendingEvents = maxPendingEvents;
    this.latestFromDatabase = latestReply;
    this.sweeper = setInterval(() => this.sweep(), 60_000).unref();
  }

  async publish(sessionId: string, event: ReplyEvent): Promise<PublishedReplyEvent> {
    const log = this.logFor(sessionId);
    log.seq += 1;
    const published = { ...event, sessionId, cursor: formatCursor(log) };
    log.reply = followReply(log.reply, event);
    log.events.push(published);
    if (log.events.length > this.retentionPerSession) log.events.shift();
    this.emitter.emit(sessionId, published);
    return published;
  }

  async head(sessionId: string): Promise<string> {
    return formatCursor(this.logFor(sessionId));
  }

  async subscribe(sessionId: string, { after }: { after?: string | null } = {}): Promise<ReplyEventStream> {
    const subscription: ReplySubscription = new ReplySubscription(sessionId, {
      after,
      maxPendingEvents: this.maxPendingEvents,
      release: () => {
        this.emitter.off(sessionId, subscription.push);
        this.subscriptions.delete(subscription);
      },
    });
    this.emitter.on(sessionId, subscription.push);
    this.subscriptions.add(subscription);
    if (!after) {
      subscription.open([]);
      return subscription;
    }
    // Read in the same turn as the listener was added: nothing can be published in between.
    const log = this.logFor(sessionId);
    const oldestSeq = log.events.length > 0 ? positionOf(log.events[0]!.cursor).seq : log.seq + 1;
    if (!replayMisses(after, { ...log, oldestSeq })) {
      subscription.open(log.events);
      return subscription;
    }
    // Events published while the database answers come live, after the snapshot's cursor: they are not in it.
    const known = log.reply ? { ...log.reply } : undefined;
    subscription.open(await snapshotAfterGap(sessionId, formatCursor(log), known, this.latestFromDatabase));
    return subscription;
  }

  async latestReply(sessionId: string): Promise<{ messageId: string; text: string } | undefined> {
    const reply = this.logs.get(sessionId)?.reply;
    return reply ? { ...reply } : undefined;
  }

  listenerCount(sessionId: string): number {
    return this.emitter.listenerCount(sessionId);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const subscription of this.subscriptions) void subscription.return();
    this.emitter.removeAllListeners();
  }

  private logFor(sessionId: string): SessionLog {
    let log = this.logs.get(sessionId);
    if (!log) {
      // Random, so a log started again after the sweep (or in another process) never continues an old cursor.
      log = { generation: randomBytes(6).toString("base64url"), seq: 0, events: [], lastUsedAt: 0 };
      this.logs.set(sessionId, log);
    }
    log.lastUsedAt = Date.now();
    return log;
  }

  private sweep(): void {
    const cutoff = Date.now() - IDLE_LOG_TTL_MS;
    for (const [sessionId, log] of this.logs) {
      if (log.lastUsedAt < cutoff && this.emitter.listenerCount(sessionId) === 0) this.logs.delete(sessionId);
    }
  }
}

/** An event's position. An event of the older, global format (a bare number, from an instance not yet updated). */
function positionOf(cursor: string): EventPosition {
  return parseCursor(cursor) ?? { generation: "", seq: Number(cursor) || 0 };
}

/** What an unreadable `after` stands for: a generation no event has, so every retained event comes after it. */
const NO_GENERATION: EventPosition = { generation: "\u0000", seq: 0 };

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The subscribe side shared by every bus: one subscription's queue, fed by the bus's listener (`push`) and read by
 * the transport (`next`). Not an async generator, whose `return()` waits for the event its body is awaiting: here
 * `return()` answers a waiting `next()` with "done" and calls `release` at once.
 *
 * - Order: the retained events after `after` (`open`), then live ones, each exactly once: an event at or before
 *   the newest one taken (same generation, lower or equal number) is a duplicate of the replay and is skipped.
 * - Live events received before `open` (while the bus reads the log) wait unmerged, so that they can be matched
 *   against the replay; after it they go through the same check.
 * - An event is handed straight to a waiting `next()`. When the reader is behind, events wait in the queue, and
 *   a delta that follows a waiting delta of the same message is merged into it (its text appended, the newer
 *   cursor kept): a replay costs a few events per reply, and a slow reader gets batched deltas instead of an
 *   ever-longer queue, whose concatenated text is still the same. Nothing else is merged or reordered.
 * - More than `maxPendingEvents` live events waiting (after merging; a replay, bounded by the retention, does not
 *   count) ends the subscription: it lets go of its queue and its listener at once, gives one
 *   `ReplyStreamOverflow` item, then ends.
 */
export class ReplySubscription implements ReplyEventStream {
  /** The bus's listener for this subscription (bound, so the bus can remove it). */
  readonly push = (event: ReplyStreamEvent): void => {
    if (this.ended) return;
    if (this.early) {
      if (this.early.length >= this.maxPendingEvents) {
        this.overflow();
        return;
      }
      this.early.push(event);
    } else {
      this.accept(event);
    }
  };

  private readonly after: string | null;
  private readonly maxPendingEvents: number;
  /** The queue's cap: `maxPendingEvents`, above what the replay queued (bounded by the retention) until it is read. */
  private limit: number;
  private release: (() => void) | undefined;
  /** Live events received before `open`. */
  private early: ReplyStreamEvent[] | undefined = [];
  /** Items not read yet: `queue[head]` onwards. */
  private readonly queue: Array<ReplyStreamItem | undefined> = [];
  private head = 0;
  /** The last waiting item is a merged delta made here, so it can be extended in place (events are shared). */
  private tailIsOwn = false;
  private waiting: ((result: IteratorResult<ReplyStreamItem, undefined>) => void) | undefined;
  /** The newest position taken: a later event must come after it. */
  private lastGeneration: string | undefined;
  private lastSeq = 0;
  /** Where a resubscription would continue without a gap: the last cursor handed out (or before the first). */
  private resumeAfter: string | null;
  private ended = false;

  constructor(
    private readonly sessionId: string,
    options: { after?: string | null; maxPendingEvents?: number; release: () => void },
  ) {
    this.after = options.after ?? null;
    this.resumeAfter = this.after;
    this.maxPendingEvents = options.maxPendingEvents ?? DEFAULT_MAX_PENDING_EVENTS;
    this.limit = Number.POSITIVE_INFINITY;
    this.release = options.release;
    if (this.after) ({ generation: this.lastGeneration, seq: this.lastSeq } = parseCursor(this.after) ?? NO_GENERATION);
  }

  /**
   * Starts delivering: first the retained events (the session log, oldest first; pass none without `after`), then
   * the live events received so far. The bus must have been listening (`push`) before it read the log.
   */
  open(retained: Iterable<ReplyStreamEvent>): void {
    if (this.ended) return;
    for (const event of retained) this.accept(event);
    this.limit = this.maxPendingEvents + (this.queue.length - this.head);
    const early = this.early ?? [];
    this.early = undefined;
    for (const event of early) this.accept(event);
  }

  next(): Promise<IteratorResult<ReplyStreamItem, undefined>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
        this.tailIsOwn = false;
      } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
        // A reader always a little behind never empties the queue: drop the read slots now and then.
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      if (value.type !== "overflow") this.resumeAfter = value.cursor;
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve(DONE);
    if (this.waiting) return Promise.reject(new Error("ReplySubscription: next() called while another next() waits"));
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorReturnResult<undefined>> {
    this.end();
    this.queue.length = 0;
    this.head = 0;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(DONE);
    return Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorResult<ReplyStreamItem, undefined>> {
    void this.return();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private accept(event: ReplyStreamEvent): void {
    if (this.ended || !this.advance(event.cursor)) return;
    const waiting = this.waiting;
    if (waiting) {
      // The queue is empty whenever someone waits.
      this.waiting = undefined;
      this.resumeAfter = event.cursor;
      waiting({ value: event, done: false });
      return;
    }
    const queue = this.queue;
    if (event.type === "delta" && queue.length > this.head) {
      const tail = queue[queue.length - 1]!;
      if (tail.type === "delta" && tail.messageId === event.messageId) {
        if (this.tailIsOwn) {
          tail.delta += event.delta;
          tail.cursor = event.cursor;
        } else {
          queue[queue.length - 1] = { ...tail, delta: tail.delta + event.delta, cursor: event.cursor };
          this.tailIsOwn = true;
        }
        return;
      }
    }
    if (queue.length - this.head >= this.limit) {
      this.overflow();
      return;
    }
    queue.push(event);
    this.tailIsOwn = false;
  }

  /** Whether an event at `cursor` comes after the newest one taken (then it is the newest). No allocation when
   * it is in the same generation, which is every event but a log's first. */
  private advance(cursor: string): boolean {
    const generation = this.lastGeneration;
    if (generation !== undefined) {
      const colon = cursor.lastIndexOf(":");
      if (colon === generation.length && cursor.startsWith(generation)) {
        const seq = seqAt(cursor, colon + 1);
        if (!Number.isNaN(seq)) {
          if (seq <= this.lastSeq) return false;
          this.lastSeq = seq;
          return true;
        }
      }
    }
    // The first event, a log started again (a new generation: always later), or an older format.
    const at = positionOf(cursor);
    if (generation === undefined) {
      this.resumeAfter ??= at.generation ? formatCursor({ generation: at.generation, seq: at.seq - 1 }) : null;
    } else if (at.generation === generation && at.seq <= this.lastSeq) {
      return false;
    }
    this.lastGeneration = at.generation;
    this.lastSeq = at.seq;
    return true;
  }

  private overflow(): void {
    const pending = this.queue.length - this.head + (this.early?.length ?? 0);
    this.end();
    this.queue.length = 0;
    this.head = 0;
    const item: ReplyStreamOverflow = {
      type: "overflow",
      sessionId: this.sessionId,
      resumeAfter: this.resumeAfter,
      pending,
    };
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) waiting({ value: item, done: false });
    else this.queue.push(item);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.early = undefined;
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}
