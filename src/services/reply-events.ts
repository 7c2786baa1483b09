// The reply event path: agent run → bus → subscriptions. Events carry ids and text, never GraphQL shapes.
// Every event gets a per-session cursor, and the bus keeps a bounded tail per session, so a client that
// subscribes late (or reconnects) can ask for everything after the cursor it last saw.
import { randomUUID } from "node:crypto";
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
  /** Cursor of the newest event published (a starting point for `subscribe({ after })` on any session). */
  head(): Promise<string>;
  /** Live events of one session; with `after`, the retained events after that cursor come first. */
  subscribe(sessionId: string, options?: { after?: string | null }): AsyncGenerator<PublishedReplyEvent>;
  close(): Promise<void>;
}

interface SessionLog {
  events: PublishedReplyEvent[];
  lastPublishedAt: number;
}

const IDLE_LOG_TTL_MS = 15 * 60_000;

/** In-process bus for a single instance (the embedded default). */
export class MemoryReplyEventBus implements ReplyEventBus {
  /** Cursors from a previous process must not replay this process's unrelated events. */
  private readonly epoch = randomUUID().slice(0, 8);
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private readonly logs = new Map<string, SessionLog>();
  /** One sequence for all sessions: a swept and recreated log can never reuse a cursor. */
  private seq = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly retentionPerSession: number) {
    this.sweeper = setInterval(() => this.sweep(), 60_000).unref();
  }

  async publish(sessionId: string, event: ReplyEvent): Promise<PublishedReplyEvent> {
    const log = this.logFor(sessionId);
    this.seq += 1;
    log.lastPublishedAt = Date.now();
    const published = { ...event, sessionId, cursor: this.cursor(this.seq) };
    log.events.push(published);
    if (log.events.length > this.retentionPerSession) log.events.shift();
    this.emitter.emit(sessionId, published);
    return published;
  }

  async head(): Promise<string> {
    return this.cursor(this.seq);
  }

  async *subscribe(sessionId: string, options: { after?: string | null } = {}): AsyncGenerator<PublishedReplyEvent> {
    const abort = new AbortController();
    // Listen before replaying so nothing published in between is missed.
    const live = on(this.emitter, sessionId, { signal: abort.signal }) as AsyncIterableIterator<[PublishedReplyEvent]>;
    yield* replayThenLive({
      afterSeq: this.seqOf(options.after),
      seqOf: (event) => this.seqOf(event.cursor) ?? 0,
      replay: async () => this.logs.get(sessionId)?.events ?? [],
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
      log = { events: [], lastPublishedAt: Date.now() };
      this.logs.set(sessionId, log);
    }
    return log;
  }

  private cursor(seq: number): string {
    return `${this.epoch}:${seq}`;
  }

  /** Undefined for "no cursor"; a cursor from another epoch replays from the start of what is retained. */
  private seqOf(cursor: string | null | undefined): number | undefined {
    if (!cursor) return undefined;
    const [epoch, seq] = cursor.split(":");
    if (epoch !== this.epoch) return 0;
    const parsed = Number(seq);
    return Number.isSafeInteger(parsed) && parsed >= 0 ? parsed : 0;
  }

  private sweep(): void {
    const cutoff = Date.now() - IDLE_LOG_TTL_MS;
    for (const [sessionId, log] of this.logs) {
      if (log.lastPublishedAt < cutoff && this.emitter.listenerCount(sessionId) === 0) this.logs.delete(sessionId);
    }
  }
}

/**
 * The subscribe side shared by every bus: retained events after the cursor, then live ones, each exactly once
 * (a live event already replayed is skipped by its sequence number). `live` must be listening before this starts.
 */
export async function* replayThenLive({
  afterSeq,
  seqOf,
  replay,
  live,
  stop,
}: {
  afterSeq: number | undefined;
  seqOf: (event: PublishedReplyEvent) => number;
  replay: () => Promise<Iterable<PublishedReplyEvent>>;
  live: AsyncIterable<PublishedReplyEvent>;
  stop: () => Promise<void>;
}): AsyncGenerator<PublishedReplyEvent> {
  try {
    let lastSeq = afterSeq;
    if (lastSeq !== undefined) {
      for (const event of await replay()) {
        if (seqOf(event) > lastSeq) {
          lastSeq = seqOf(event);
          yield event;
        }
      }
    }
    for await (const event of live) {
      if (lastSeq !== undefined && seqOf(event) <= lastSeq) continue;
      yield event;
    }
  } finally {
    await stop();
  }
}

export async function* unwrapFirst<T>(iterator: AsyncIterable<[T]>): AsyncGenerator<T> {
  for await (const [value] of iterator) yield value;
}
