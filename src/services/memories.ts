// Long-term memory of each user across sessions: facts extracted from the user's own messages in the background,
// stored per user, and recalled before answering. Recall is PostgreSQL full-text search everywhere (offline too);
// with EMBEDDINGS_MODEL on a database that has pgvector it is vector similarity instead.
import type { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { ConfiguredEmbeddings } from "../agent/memory/embeddings.ts";
import { extractMemoryUpdates, type MemoryUpdate } from "../agent/memory/extraction.ts";
import type { MemoryRecall } from "../agent/memory/recall.ts";
import type { ChatStream } from "../agent/models/model-call.ts";
import { Prisma, type Memory, type PrismaClient } from "../generated/prisma/client.ts";
import { withDeadline } from "../observability/deadline.ts";
import type { Logger } from "../observability/logger.ts";
import {
  dropEmbedding,
  enableMemoryVectors,
  memoriesWithoutEmbedding,
  nearestMemories,
  saveEmbedding,
} from "../persistence/memory-vectors.ts";
import { AppError, notFound } from "./errors.ts";
import { BoundedCache } from "./bounded-cache.ts";
import { QuotaSpentError, UsageMeter } from "./metering.ts";
import type { UsageService } from "./usage.ts";

export interface MemoryServiceOptions {
  /** MEMORY_EXTRACTION_QUEUE_MAX: waiting extractions; when full the oldest is dropped (and counted). */
  extractionQueueMax: number;
  /** MEMORY_RECALL_LIMIT: facts recalled per turn, and known facts shown to the extractor. */
  recallLimit: number;
  /** Set (with its model name) to recall by pgvector similarity where the database has the extension. */
  embeddings?: ConfiguredEmbeddings;
  /** Extractions running at once; never two for the same user, so one user's facts are merged in order. */
  concurrency?: number;
  /** One extraction (model call and writes) is abandoned after this long. */
  extractionTimeoutMs?: number;
  /** Set: extraction calls are charged to the user's daily quota, and skipped once it is spent. */
  usage?: UsageService;
  /** Tracing handlers for one extraction (Langfuse), if any. */
  callbacksFor?: (job: { userId: string; sessionId: string; messageId: string }) => BaseCallbackHandler[];
}

/** Where the message came from: the reply it was answered by (extraction is traced under it). */
export interface TurnOrigin {
  sessionId: string;
  messageId: string;
  /** The user's model tokens today right after that reply, when known (spares a read before extracting). */
  dayTotal?: number;
}

export interface MemoryListOptions {
  /** Rows to return at most. */
  first: number;
  /** Cursors from `memoryCursor`: only rows after / before that one in newest-first order. */
  after?: string | null;
  before?: string | null;
  /** Take rows from the oldest end (Relay `last`); they come back oldest first. */
  oldestFirst?: boolean;
  /** Full-text filter in web-search syntax: words (all must match), "a phrase", -excluded. */
  query?: string | null;
}

export type RecallMode = "vector" | "full-text";

export interface MemoryStats {
  queued: number;
  running: number;
  /** Extractions finished, with or without new facts. */
  processed: number;
  /** Extractions that threw (model or database errors) or timed out. */
  failed: number;
  /** Extractions never run: pushed out of a full queue, or still queued (or arriving) at shutdown. */
  dropped: number;
  /** Extractions not run because the user's daily token quota was spent. */
  skipped: number;
  created: number;
  updated: number;
}

interface ExtractionJob {
  userId: string;
  userMessage: string;
  origin?: TurnOrigin;
}

interface StoredFact {
  id: string;
  content: string;
}

/** Recall must not hold up a reply for long: after this the embedding is given up for full-text search. */
const RECALL_EMBEDDING_TIMEOUT_MS = 5_000;
/** Memories (re-)embedded per extraction for the user whose turn it was, until all have a vector. */
const BACKFILL_BATCH = 16;
const CURSOR_PREFIX = "memory:";
/** How much of a message full-text recall searches (see searchableText). */
const RECALL_TEXT_CHARS = 2_000;

export class MemoryService implements MemoryRecall {
  private readonly queue: ExtractionJob[] = [];
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly counters = { processed: 0, failed: 0, dropped: 0, skipped: 0, created: 0, updated: 0 };
  private readonly concurrency: number;
  private readonly extractionTimeoutMs: number;
  private accepting = true;
  private recallMode: Promise<RecallMode> | undefined;
  /**
   * What recall found for each user's latest message: extraction for that message, moments later, starts from the
   * same facts instead of searching again.
   */
  private readonly lastRecall = new BoundedCache<string, { text: string; facts: StoredFact[] }>(10_000, 60_000);

  constructor(
    private readonly prisma: PrismaClient,
    /** The same model path as replies: retries, fallbacks, breakers and model metrics. */
    private readonly chat: ChatStream,
    private readonly logger: Logger,
    private readonly options: MemoryServiceOptions,
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 2);
    this.extractionTimeoutMs = options.extractionTimeoutMs ?? 60_000;
  }

  /**
   * How recall works on this database; decided once. With embeddings configured this creates the pgvector table
   * (a no-op after the first start); without pgvector it falls back to full-text search, and says so.
   */
  prepare(): Promise<RecallMode> {
    this.recallMode ??= (async (): Promise<RecallMode> => {
      if (!this.options.embeddings) return "full-text";
      try {
        if (await enableMemoryVectors(this.prisma)) return "vector";
        this.logger.warn("EMBEDDINGS_MODEL is set but the database has no pgvector: memories use full-text search");
      } catch (error) {
        this.logger.warn({ err: error }, "could not set up pgvector: memories use full-text search");
      }
      return "full-text";
    })();
    return this.recallMode;
  }

  /** Queues extraction from the user's new message and returns at once. */
  afterUserTurn(userId: string, userMessage: string, origin?: TurnOrigin): void {
    if (!this.accepting) {
      this.counters.dropped += 1;
      return;
    }
    if (userMessage.trim() === "") return;
    this.queue.push({ userId, userMessage, ...(origin ? { origin } : {}) });
    if (this.queue.length > this.options.extractionQueueMax) {
      // The oldest turn loses: its user has most likely moved on, and restating a fact brings it back.
      const dropped = this.queue.shift()!;
      this.counters.dropped += 1;
      this.logger.warn(
        { userId: dropped.userId, dropped: this.counters.dropped },
        "memory extraction queue full: oldest job dropped",
      );
    }
    this.pump();
  }

  /** Facts relevant to `query`, best first. Never throws: a reply goes on without memories rather than failing. */
  async recall(userId: string, query: string): Promise<string[]> {
    try {
      const facts = await this.relevant(userId, query, this.options.recallLimit);
      this.lastRecall.set(userId, { text: query, facts });
      return facts.map((fact) => fact.content);
    } catch (error) {
      this.logger.error({ err: error, userId }, "memory recall failed");
      return [];
    }
  }

  /** One page of the user's memories, newest first (or oldest first from the end), optionally full-text filtered. */
  async list(userId: string, options: MemoryListOptions): Promise<Memory[]> {
    const conditions = [Prisma.sql`"userId" = ${userId}`];
    const query = options.query?.trim();
    if (query) conditions.push(Prisma.sql`"search" @@ websearch_to_tsquery('english', ${query})`);
    if (options.after) {
      const cursor = decodeCursor(options.after, "after");
      conditions.push(Prisma.sql`("createdAt", "id") < (${cursor.createdAt}::timestamptz, ${cursor.id})`);
    }
    if (options.before) {
      const cursor = decodeCursor(options.before, "before");
      conditions.push(Prisma.sql`("createdAt", "id") > (${cursor.createdAt}::timestamptz, ${cursor.id})`);
    }
    const direction = options.oldestFirst ? Prisma.sql`ASC` : Prisma.sql`DESC`;
    return this.prisma.$queryRaw<Memory[]>`
      SELECT "id", "userId", "content", "createdAt", "updatedAt" FROM "Memory"
      WHERE ${Prisma.join(conditions, " AND ")}
      ORDER BY "createdAt" ${direction}, "id" ${direction}
      LIMIT ${options.first}`;
  }

  /** NOT_FOUND for an unknown id and for someone else's alike. */
  async delete(userId: string, memoryId: string): Promise<void> {
    const { count } = await this.prisma.memory.deleteMany({ where: { id: memoryId, userId } });
    if (count === 0) throw notFound("Memory");
  }

  /** Forgets everything about the user; returns how many memories went. */
  async clear(userId: string): Promise<number> {
    const { count } = await this.prisma.memory.deleteMany({ where: { userId } });
    return count;
  }

  /** Resolves once nothing is queued or running (extractions arriving later start a new busy period). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Shutdown: stops taking jobs, lets the queue run for up to `graceMs`, then drops what is still queued and aborts
   * what is running. Resolves when nothing touches the database any more.
   */
  async drain(graceMs: number): Promise<void> {
    this.accepting = false;
    await withDeadline(this.idle(), graceMs, () => undefined);
    const left = this.queue.splice(0);
    if (left.length > 0) {
      this.counters.dropped += left.length;
      this.logger.warn({ count: left.length }, "memory extractions dropped at shutdown");
    }
    for (const run of this.running.values()) run.abort.abort(new Error("Shutting down"));
    await Promise.allSettled([...this.running.values()].map((run) => run.done));
  }

  stats(): MemoryStats {
    return { queued: this.queue.length, running: this.running.size, ...this.counters };
  }

  /** Starts queued jobs up to the concurrency, oldest first, skipping users who already have one running. */
  private pump(): void {
    while (this.running.size < this.concurrency) {
      const index = this.queue.findIndex((job) => !this.running.has(job.userId));
      if (index < 0) break;
      const [job] = this.queue.splice(index, 1);
      const abort = new AbortController();
      const done = this.extract(job!, AbortSignal.any([abort.signal, AbortSignal.timeout(this.extractionTimeoutMs)]))
        .then(
          () => {
            this.counters.processed += 1;
          },
          (error: unknown) => {
            this.counters.failed += 1;
            this.logger.error({ err: error, userId: job!.userId }, "memory extraction failed");
          },
        )
        .finally(() => {
          this.running.delete(job!.userId);
          this.pump();
          if (this.queue.length === 0 && this.running.size === 0) {
            for (const resolve of this.idleWaiters.splice(0)) resolve();
          }
        });
      this.running.set(job!.userId, { abort, done });
    }
  }

  private async extract({ userId, userMessage, origin }: ExtractionJob, signal: AbortSignal): Promise<void> {
    // A model call like any other: charged to the user as it ends, and not made once their day is spent.
    const { usage } = this.options;
    const meter = usage ? new UsageMeter(usage, userId, { admitted: false, dayTotal: origin?.dayTotal }) : undefined;
    try {
      await meter?.beforeModelCall();
    } catch (error) {
      if (!(error instanceof QuotaSpentError)) throw error;
      this.counters.skipped += 1;
      return;
    }
    const recalled = this.lastRecall.get(userId);
    const known =
      recalled?.text === userMessage
        ? recalled.facts
        : await this.relevant(userId, userMessage, this.options.recallLimit);
    signal.throwIfAborted();
    const callbacks = origin
      ? this.options.callbacksFor?.({ userId, sessionId: origin.sessionId, messageId: origin.messageId })
      : undefined;
    const updates = await extractMemoryUpdates(
      this.chat,
      { userMessage, known: known.map((fact) => fact.content) },
      { signal, onUsage: (usage) => meter?.record(usage), ...(callbacks ? { callbacks } : {}) },
    ).finally(() => meter?.flush());
    for (const update of updates) {
      signal.throwIfAborted();
      await this.apply(userId, update, known);
    }
    if ((await this.prepare()) === "vector") await this.backfillEmbeddings(userId);
  }

  /** Stores one fact: skipped when the user already has it (in any case), else replaces its old version or is added. */
  private async apply(userId: string, update: MemoryUpdate, known: StoredFact[]): Promise<void> {
    const duplicate = await this.prisma.$queryRaw<unknown[]>`
      SELECT 1 FROM "Memory" WHERE "userId" = ${userId} AND lower("content") = lower(${update.content}) LIMIT 1`;
    if (duplicate.length > 0) return;
    const target = update.replaces === undefined ? undefined : known[update.replaces];
    if (target) {
      const { count } = await this.prisma.memory.updateMany({
        where: { id: target.id, userId },
        data: { content: update.content },
      });
      if (count > 0) {
        this.counters.updated += 1;
        if ((await this.prepare()) === "vector") await dropEmbedding(this.prisma, target.id);
        await this.embed(userId, [{ id: target.id, content: update.content }]);
        return;
      }
    }
    const created = await this.prisma.memory.create({ data: { userId, content: update.content } });
    this.counters.created += 1;
    await this.embed(userId, [created]);
  }

  /** The facts most relevant to `text`: nearest vectors, else best full-text matches, else the most recent. */
  private async relevant(userId: string, text: string, limit: number): Promise<StoredFact[]> {
    const embeddings = this.options.embeddings;
    if (embeddings && (await this.prepare()) === "vector") {
      try {
        const embedding = await withDeadline(embeddings.client.embedQuery(text), RECALL_EMBEDDING_TIMEOUT_MS, () => {
          throw new Error(`Timed out after ${RECALL_EMBEDDING_TIMEOUT_MS} ms`);
        });
        const nearest = await nearestMemories(this.prisma, { userId, model: embeddings.model, embedding, limit });
        if (nearest.length > 0) return nearest;
      } catch (error) {
        this.logger.warn({ err: error, userId }, "memory embedding failed: recalling by full-text search");
      }
    }
    // Any word of the message may match (`|`, where plainto_tsquery would need all): "where do I live?" should find
    // "User lives in Berlin". The distinct lexemes of the message (a stripped tsvector prints as 'a' 'b', quotes
    // escaped) are joined with `|`; ranked by how much matches, ties to the most recently confirmed fact.
    // The most recent facts come in the same round trip, for when nothing matches.
    const lexemes = Prisma.sql`strip(to_tsvector('english', ${searchableText(text)}))::text`;
    const rows = await this.prisma.$queryRaw<Array<StoredFact & { matched: boolean }>>`
      WITH q AS (SELECT regexp_replace(${lexemes}, ''' ''', ''' | ''', 'g')::tsquery AS query)
      (SELECT m."id", m."content", true AS "matched" FROM "Memory" m, q
        WHERE m."userId" = ${userId} AND m."search" @@ q.query
        ORDER BY ts_rank(m."search", q.query) DESC, m."updatedAt" DESC, m."id" DESC
        LIMIT ${limit})
      UNION ALL
      (SELECT m."id", m."content", false AS "matched" FROM "Memory" m
        WHERE m."userId" = ${userId}
        ORDER BY m."updatedAt" DESC, m."id" DESC
        LIMIT ${limit})`;
    const matches = rows.filter((row) => row.matched);
    return (matches.length > 0 ? matches : rows).map(({ id, content }) => ({ id, content }));
  }

  /** Best effort: a fact without a vector is still found by full-text search and re-embedded by the backfill. */
  private async embed(userId: string, facts: StoredFact[]): Promise<void> {
    const embeddings = this.options.embeddings;
    if (!embeddings || facts.length === 0 || (await this.prepare()) !== "vector") return;
    try {
      const vectors = await embeddings.client.embedDocuments(facts.map((fact) => fact.content));
      for (const [index, fact] of facts.entries()) {
        const embedding = vectors[index];
        if (!embedding) continue;
        await saveEmbedding(this.prisma, { memoryId: fact.id, userId, model: embeddings.model, embedding });
      }
    } catch (error) {
      this.logger.warn({ err: error, userId }, "could not embed memories (kept for full-text search)");
    }
  }

  private async backfillEmbeddings(userId: string): Promise<void> {
    const model = this.options.embeddings!.model;
    const missing = await memoriesWithoutEmbedding(this.prisma, { userId, model, limit: BACKFILL_BATCH });
    await this.embed(userId, missing);
  }
}

/** The opaque connection cursor of a memory: its place in the (createdAt, id) order. */
export function memoryCursor(memory: Pick<Memory, "id" | "createdAt">): string {
  return Buffer.from(`${CURSOR_PREFIX}${memory.createdAt.toISOString()}|${memory.id}`).toString("base64url");
}

function decodeCursor(cursor: string, field: string): { createdAt: string; id: string } {
  const text = Buffer.from(cursor, "base64url").toString();
  const [createdAt, id] = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length).split("|") : [];
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt))) {
    throw new AppError("BAD_USER_INPUT", `${field} is not a cursor of this connection`, { field });
  }
  return { createdAt, id };
}

/**
 * A long message (a pasted document) as a search: its beginning and its end, where the topic and the question
 * usually are. Ranking thousands of distinct words against every memory costs hundreds of milliseconds before each
 * reply; this keeps recall in the low milliseconds.
 */
function searchableText(text: string): string {
  if (text.length <= RECALL_TEXT_CHARS) return text;
  return `${text.slice(0, RECALL_TEXT_CHARS / 2)} ${text.slice(-RECALL_TEXT_CHARS / 2)}`;
}
