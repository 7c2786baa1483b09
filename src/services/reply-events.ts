// The reply event path: agent run → bus → subscriptions. Events carry ids and text, never GraphQL shapes.
// Each session has its own event log: a bounded tail of its events, numbered by a per-session sequence, so a client
// that subscribes late (or reconnects) can ask for everything after the cursor it last saw. A cursor names the log's
// generation and the event's number in it (`<generation>:<seq>`): it counts that session's events only, and a log
// that is dropped and started again (idle, restart) gets a new generation, so an old cursor never names a new event.
import { randomBytes } from "node:crypto";
import { EventEmitter, on } from "node:events";

export type ReplyEvent =
  | { type: "delta"; messageId: string; delta: string }
  | { type: "restarted"; messageId: string; reason: string }
  | { type: "toolStarted"; messageId: string; toolCallId: string; name: string; arguments: Record<string, unknown> }
  | { type: "toolFinished"; messageId: string; toolCallId: string; name: string; result: string; isError: boolean }
  | { type: "completed"; messageId: string }
  | { type: "cancelled"; messageId: string }
  | { type: "failed"; messageId: string; code: string; reason: string };

export type PublishedReplyEvent = ReplyEvent & { sessionId: string; cursor: string };

export interface ReplyEventBus {
  publish(sessionId: string, event: ReplyEvent): Promise<PublishedReplyEvent>;
  /**
   * Cursor of the session's newest event (starting its log when there is none), so `subscribe({ after })` from it
   * receives everything the session publishes later.
   */
  head(sessionId: string): Promise<string>;
  /**
   * Live events of one session; with `after`, the retained events after that cursor come first (all of them when
   * the cursor names another generation of the log or cannot be read), runs of one message's deltas merged.
   */
  subscribe(sessionId: string, options?: { after?: string | null }): AsyncGenerator<PublishedReplyEvent>;
  close(): Promise<void>;
}

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
  const seq = Number(cursor.slice(colon + 1));
  if (colon <= 0 || !/^\d+$/.test(cursor.slice(colon + 1)) || !Number.isSafeInteger(seq)) return undefined;
  return { generation: cursor.slice(0, colon), seq };
}

interface SessionLog {
  generation: string;
  seq: number;
  events: PublishedReplyEvent[];
  lastUsedAt: number;
}

const IDLE_LOG_TTL_MS = 15 * 60_000;

/** In-process bus for a single instance (the embedded default). */
export class MemoryReplyEventBus implements ReplyEventBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private readonly logs = new Map<string, SessionLog>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly retentionPerSession: number) {
    this.sweeper = setInterval(() => this.sweep(), 60_000).unref();
  }

  async publish(sessionId: string, event: ReplyEvent): Promise<PublishedReplyEvent> {
    const log = this.logFor(sessionId);
    log.seq += 1;
    const published = { ...event, sessionId, cursor: formatCursor(log) };
    log.events.push(published);
    if (log.events.length > this.retentionPerSession) log.events.shift();
    this.emitter.emit(sessionId, published);
    return published;
  }

  async head(sessionId: string): Promise<string> {
    return formatCursor(this.logFor(sessionId));
  }

  async *subscribe(sessionId: string, options: { after?: string | null } = {}): AsyncGenerator<PublishedReplyEvent> {
    const abort = new AbortController();
    // Listen before replaying so nothing published in between is missed.
    const live = on(this.emitter, sessionId, { signal: abort.signal }) as AsyncIterableIterator<[PublishedReplyEvent]>;
    yield* replayThenLive({
      after: options.after,
      replay: async () => [...(this.logs.get(sessionId)?.events ?? [])],
      live: unwrapFirst(live),
      stop: async () => abort.abort(),
    });
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
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
function positionOf(event: PublishedReplyEvent): EventPosition {
  return parseCursor(event.cursor) ?? { generation: "", seq: Number(event.cursor) || 0 };
}

/** What an unreadable `after` stands for: a generation no event has, so every retained event comes after it. */
const NO_GENERATION: EventPosition = { generation: "\u0000", seq: 0 };

/** Whether `at` comes after `last`: later in the same generation, or in another one (the log was started again). */
function isAfter(at: EventPosition, last: EventPosition): boolean {
  return at.generation !== last.generation || at.seq > last.seq;
}

/**
 * The subscribe side shared by every bus: retained events after the cursor, then live ones, each exactly once
 * (a live event already replayed is skipped by its position). `live` must be listening before this starts.
 * A replay merges each run of one message's deltas into one event (see `coalesceDeltas`).
 */
export async function* replayThenLive({
  after,
  replay,
  live,
  stop,
}: {
  after: string | null | undefined;
  /** The session log's retained events, oldest first (one generation). */
  replay: () => Promise<PublishedReplyEvent[]>;
  live: AsyncIterable<PublishedReplyEvent>;
  stop: () => Promise<void>;
}): AsyncGenerator<PublishedReplyEvent> {
  try {
    let last = after ? (parseCursor(after) ?? NO_GENERATION) : undefined;
    if (last) {
      const from = last;
      for (const event of coalesceDeltas((await replay()).filter((event) => isAfter(positionOf(event), from)))) {
        last = positionOf(event);
        yield event;
      }
    }
    for await (const event of live) {
      const at = positionOf(event);
      if (last && !isAfter(at, last)) continue;
      last = at;
      yield event;
    }
  } finally {
    await stop();
  }
}

/**
 * Merges each run of consecutive deltas of one message into one delta carrying the run's last cursor, so a replay
 * costs a few events per reply however many tokens it had. Nothing else is merged or reordered (a restart, a tool
 * call or another message ends a run), so the concatenated deltas still equal the stored text.
 */
export function coalesceDeltas(events: Iterable<PublishedReplyEvent>): PublishedReplyEvent[] {
  const merged: PublishedReplyEvent[] = [];
  for (const event of events) {
    const previous = merged.at(-1);
    if (event.type === "delta" && previous?.type === "delta" && previous.messageId === event.messageId) {
      merged[merged.length - 1] = { ...previous, delta: previous.delta + event.delta, cursor: event.cursor };
    } else {
      merged.push(event);
    }
  }
  return merged;
}

export async function* unwrapFirst<T>(iterator: AsyncIterable<[T]>): AsyncGenerator<T> {
  for await (const [value] of iterator) yield value;
}
