// Runs agent replies in the background: streams their events onto the bus and stores the result.
// A reply row is STREAMING while it runs and always ends COMPLETE, FAILED, CANCELLED or INTERRUPTED.
import { Prisma, type PrismaClient } from "../generated/prisma/client.ts";
import { ModelUnavailableError } from "../agent/models/model-errors.ts";
import type { ConversationTurn, ReplyAgent, ReplyChunk } from "../agent/reply-agent.ts";
import { withDeadline } from "../observability/deadline.ts";
import { withLogContext } from "../observability/log-context.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Broadcast } from "../persistence/events/broadcast.ts";
import { isDatabaseError, withDatabaseRetry } from "../persistence/database-errors.ts";
import { QuotaSpentError, UsageMeter } from "./metering.ts";
import { CoalescingPublisher } from "./coalescing-publisher.ts";
import type { ReplyEventBus } from "../persistence/events/reply-events.ts";
import { INTERRUPTED, type LeaseHolder, type ReplyLeases } from "./reply-leases.ts";
import type { ReplySlots } from "./reply-slots.ts";
import type { UsageService } from "./usage.ts";

const ReplyFailure = {
  llmError: { code: "LLM_ERROR", reason: "The model could not produce a reply. Try again." },
  llmUnavailable: { code: "LLM_UNAVAILABLE", reason: "No model is available right now. Try again in a minute." },
  interrupted: INTERRUPTED,
  quotaSpent: { code: "QUOTA_EXCEEDED", reason: "Today's token quota ran out while this reply was being written." },
  storage: { code: "STORAGE_ERROR", reason: "The reply could not be stored. Try again in a moment." },
} as const;

type FinalStatus = "COMPLETE" | "FAILED" | "INTERRUPTED" | "CANCELLED";

const CANCEL_CHANNEL = "cancel-replies";

/** Why a run was aborted; the abort reason decides the reply's final status. */
class Cancelled extends Error {}
class ShuttingDown extends Error {}
/** Another instance ended the reply after this one's lease on it ran out: nothing more is stored or published. */
class LeaseLost extends Error {}

export interface ReplyJob {
  userId: string;
  sessionId: string;
  messageId: string;
  /**
   * The stored conversation this reply answers, ending with the user's message, when the sender could read it
   * final (no earlier reply of the session still running); read at the start of the run otherwise.
   */
  history?: ConversationTurn[];
}

export interface ReplyServiceOptions {
  /**
   * How often partial text is written while streaming, so a crash loses at most this much of it.
   * @default 1000
   */
  partialFlushMs?: number;
  /** Tracing callbacks for one run. */
  callbacksFor?: (job: ReplyJob) => Parameters<ReplyAgent["streamReply"]>[0]["callbacks"];
  /** After a reply completed: e.g. extract memories from the user's message (`dayTotal`: the user's day, if known). */
  afterReply?: (job: ReplyJob & { userMessage: string; dayTotal?: number }) => void;
}

export class ReplyService implements LeaseHolder {
  private readonly running = new Map<string, { job: ReplyJob; abort: AbortController; done: Promise<void> }>();
  /** Per session, the tail of this instance's queue of replies (SEND_WHILE_STREAMING=queue). */
  private readonly sessionTails = new Map<string, Promise<void>>();
  private readonly stopListening: () => void;
  /** Deltas go out as fast as the bus takes them, merged while it is busy; other events in order after them. */
  private readonly events: CoalescingPublisher;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly agent: ReplyAgent,
    bus: ReplyEventBus,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly usage: UsageService,
    private readonly broadcast: Broadcast,
    private readonly slots: ReplySlots,
    private readonly leases: ReplyLeases,
    private readonly hooks: ReplyServiceOptions = {},
  ) {
    this.events = new CoalescingPublisher(bus);
    // A cancel may arrive at any instance; the one running the reply acts on it.
    this.stopListening = broadcast.subscribe(CANCEL_CHANNEL, (sessionId) => {
      for (const run of this.running.values()) if (run.job.sessionId === sessionId) run.abort.abort(new Cancelled());
    });
  }

  /** Admits one more reply on this instance (OVERLOADED otherwise); then `start` it, or `release` if it never will. */
  reserve(): void {
    this.slots.reserve();
  }

  release(): void {
    this.slots.unreserve();
  }

  /** Starts a reserved reply (after the session's earlier replies on this instance) and returns at once. */
  start(job: ReplyJob): void {
    this.slots.stored();
    const abort = new AbortController();
    const previous = this.sessionTails.get(job.sessionId) ?? Promise.resolve();
    const done = previous
      // The run's log lines name its user, session and reply (and the request that started it).
      .then(() =>
        withLogContext({ userId: job.userId, sessionId: job.sessionId, messageId: job.messageId }, () =>
          this.run(job, abort.signal),
        ),
      )
      .finally(() => {
        this.running.delete(job.messageId);
        if (this.sessionTails.get(job.sessionId) === done) this.sessionTails.delete(job.sessionId);
      });
    this.sessionTails.set(job.sessionId, done);
    this.running.set(job.messageId, { job, abort, done });
  }

  /** Stops the session's running and queued replies wherever they run; each ends CANCELLED with a final event. */
  async cancel(sessionId: string): Promise<void> {
    await this.broadcast.publish(CANCEL_CHANNEL, sessionId);
  }

  /** The instance that runs the replies started here (their rows' `leaseOwner`). */
  get instanceId(): string {
    return this.leases.instanceId;
  }

  /** Ends the session's replies whose instance died (lease run out) now, rather than at the next sweep. */
  recoverExpired(sessionId: string, as: "INTERRUPTED" | "CANCELLED" = "INTERRUPTED"): Promise<number> {
    return this.leases.recoverExpired({ sessionId, as });
  }

  runningIds(): string[] {
    return [...this.running.keys()];
  }

  lost(ids: string[]): void {
    for (const id of ids) this.running.get(id)?.abort.abort(new LeaseLost());
  }

  /** Waits for running replies up to `graceMs`, then stops the rest; each still ends with a final event. */
  async drain(graceMs: number): Promise<void> {
    const all = () => Promise.allSettled([...this.running.values()].map((run) => run.done));
    await withDeadline(all(), graceMs, () => undefined);
    for (const run of this.running.values()) run.abort.abort(new ShuttingDown());
    await all();
    await this.events.drain();
    this.stopListening();
  }

  private async run(job: ReplyJob, signal: AbortSignal): Promise<void> {
    const { userId, sessionId, messageId } = job;
    // Every model call of the run is charged as it ends; the first was admitted with the reply's reservation.
    const meter = new UsageMeter(this.usage, userId, { admitted: true });
    let content = "";
    let model: string | undefined;
    let status: FinalStatus = "COMPLETE";
    let lost = false;
    let releaseSlot: (() => void) | undefined;
    let startedAt = performance.now();
    try {
      releaseSlot = await this.slots.acquire(signal, (position) => {
        this.events.publish(sessionId, { type: "queued", messageId, position }).catch((error: unknown) => {
          this.logger.warn({ err: error, messageId }, "could not publish that the reply is queued");
        });
      });
      startedAt = performance.now();
      this.metrics.activeReplies.inc();
      const history = job.history ?? (await withDatabaseRetry(() => this.historyBefore(sessionId, messageId)));
      let flushed = { at: Date.now(), content };
      const callbacks = this.hooks.callbacksFor?.(job);
      for await (const chunk of this.agent.streamReply({ userId, sessionId, history, signal, meter, callbacks })) {
        if (chunk.type === "model") model = chunk.name;
        else if (chunk.type === "text") {
          if (content === "") this.metrics.timeToFirstToken.observe((performance.now() - startedAt) / 1000);
          content += chunk.text;
          // Resolves at once (a failed earlier publish is reported here); merged with the next ones while the bus is busy.
          await this.events.publish(sessionId, { type: "delta", messageId, delta: chunk.text });
        } else await this.onActivity(job, chunk, () => (content = ""));
        if (Date.now() - flushed.at >= (this.hooks.partialFlushMs ?? 1000) && content !== flushed.content) {
          flushed = { at: Date.now(), content };
          await withDatabaseRetry(() =>
            this.prisma.message.updateMany({
              where: { id: messageId, leaseOwner: this.instanceId },
              data: { content: flushed.content },
            }),
          );
        }
      }
      // Every delta out first: a failed one fails the reply before it is stored COMPLETE.
      await this.events.flush(sessionId);
      // Stored and charged before the final event, so a client reading `me.usage` after it sees this reply counted.
      if (!(await this.store(job, { content, status, model }, meter))) throw new LeaseLost();
      await this.events.publish(sessionId, { type: "completed", messageId });
      const userMessage = history.findLast((turn) => turn.role === "user")?.content;
      if (userMessage !== undefined) this.hooks.afterReply?.({ ...job, userMessage, dayTotal: meter.knownDayTotal });
    } catch (error) {
      const reason = signal.aborted ? signal.reason : error instanceof LeaseLost ? error : undefined;
      if (reason instanceof LeaseLost) {
        // Stored, announced and counted by the instance that ended it.
        lost = true;
        return;
      }
      status = reason instanceof Cancelled ? "CANCELLED" : reason ? "INTERRUPTED" : "FAILED";
      if (status === "FAILED" && !(error instanceof QuotaSpentError)) {
        this.logger.error({ err: error, sessionId, messageId }, "agent reply failed");
      }
      await this.end(job, content, status, failureOf(error, status), meter);
    } finally {
      if (releaseSlot) {
        releaseSlot();
        this.metrics.activeReplies.dec();
      }
      const seconds = (performance.now() - startedAt) / 1000;
      if (lost) {
        this.logger.warn(
          { durationMs: Math.round(seconds * 1000) },
          "reply ended by another instance after this one's lease ran out",
        );
      } else {
        this.metrics.replies.inc({ status });
        this.metrics.replyDuration.observe({ status }, seconds);
        this.logger.info(
          { status, durationMs: Math.round(seconds * 1000), model, ...tokensOf(meter) },
          "reply finished",
        );
      }
    }
  }

  /** Tool calls are stored as they happen and streamed; a restart discards the text streamed so far. */
  private async onActivity(job: ReplyJob, chunk: ReplyChunk, discardText: () => void): Promise<void> {
    const { sessionId, messageId } = job;
    if (chunk.type === "restart") {
      discardText();
      await this.events.publish(sessionId, { type: "restarted", messageId, reason: chunk.reason });
    } else if (chunk.type === "toolStarted") {
      await this.prisma.toolCall.create({
        data: { messageId, callId: chunk.callId, name: chunk.name, arguments: chunk.arguments as object },
      });
      await this.events.publish(sessionId, {
        type: "toolStarted",
        messageId,
        toolCallId: chunk.callId,
        name: chunk.name,
        arguments: chunk.arguments,
      });
    } else if (chunk.type === "toolFinished") {
      this.metrics.toolCall(chunk.name, chunk.isError);
      await this.prisma.toolCall.updateMany({
        where: { messageId, callId: chunk.callId },
        data: { result: chunk.result, isError: chunk.isError, finishedAt: new Date() },
      });
      await this.events.publish(sessionId, {
        type: "toolFinished",
        messageId,
        toolCallId: chunk.callId,
        name: chunk.name,
        result: chunk.result,
        isError: chunk.isError,
      });
    }
  }

  /** Ends a reply that did not complete: stored as far as it got (if the database lets it), then its final event. */
  private async end(
    job: ReplyJob,
    partialContent: string,
    status: Exclude<FinalStatus, "COMPLETE">,
    failure: { code: string; reason: string } | undefined,
    meter: UsageMeter,
  ): Promise<void> {
    try {
      // Ended by another instance meanwhile (this one's lease ran out): it stored and announced the ending.
      if (!(await this.store(job, { content: partialContent, status, failure }, meter))) return;
    } catch (error) {
      // The database may be what failed; subscribers still deserve the final event.
      this.logger.warn({ err: error, messageId: job.messageId }, "could not store the ended reply");
    }
    if (failure) this.metrics.replyFailures.inc({ code: failure.code });
    const final =
      status === "CANCELLED"
        ? { type: "cancelled" as const, messageId: job.messageId }
        : { type: "failed" as const, messageId: job.messageId, ...failure! };
    await this.events.publish(job.sessionId, final).catch((error: unknown) => {
      // The bus is what failed (Redis down): the row says how the reply ended; a resubscribing client reads it there.
      this.logger.error({ err: error, messageId: job.messageId }, "could not publish the reply's final event");
    });
  }

  /**
   * The reply's final state and the charge for its last model calls, in one statement; then the session's activity
   * time. A reply deleted meanwhile (with its session) is still charged: deleting a conversation gives no tokens back.
   * False when another instance ended the reply (this one no longer owns it): nothing is written then.
   */
  private async store(
    { userId, messageId }: ReplyJob,
    ended: { content: string; status: FinalStatus; failure?: { code: string; reason: string }; model?: string },
    meter: UsageMeter,
  ): Promise<boolean> {
    const pending = meter.takePending();
    const tokens = tokensOf(meter);
    // The charge goes with the write that ends the reply, so a retry after a lost answer (the write was in fact
    // made) charges nothing twice: it charges only while the row was still STREAMING, or is gone.
    const [row] = await withDatabaseRetry(
      () => this.prisma.$queryRaw<
        Array<{ dayTotal: number | null; stored: bigint; existed: boolean; sessionId: string | null }>
      >`
        WITH "before" AS (SELECT "status" FROM "Message" WHERE "id" = ${messageId}),
        "stored" AS (
          UPDATE "Message" SET
            "content" = ${ended.content}, "status" = CAST(${ended.status} AS "MessageStatus"), "completedAt" = now(),
            "errorCode" = ${ended.failure?.code ?? null}, "errorReason" = ${ended.failure?.reason ?? null},
            "inputTokens" = ${tokens.inputTokens ?? null}::int, "outputTokens" = ${tokens.outputTokens ?? null}::int,
            "model" = COALESCE(${ended.model ?? null}, "model")
          WHERE "id" = ${messageId} AND "leaseOwner" = ${this.instanceId}
          RETURNING "sessionId"
        ),
        "charged" AS (
          ${this.usage.chargeSql(userId, pending, Prisma.sql`${pending} > 0 AND (NOT EXISTS (SELECT 1 FROM "before") OR (SELECT "status" FROM "before") = 'STREAMING')`)}
        )
        SELECT (SELECT "tokens" FROM "charged") AS "dayTotal", (SELECT count(*) FROM "stored") AS "stored",
          EXISTS (SELECT 1 FROM "before") AS "existed", (SELECT "sessionId" FROM "stored") AS "sessionId"`,
    );
    if (typeof row?.dayTotal === "number") meter.chargedUpTo(row.dayTotal);
    // The end of a reply is activity in its session (me.sessions(orderBy: UPDATED_AT_DESC)). A statement of its own:
    // inside the one above, the session's row lock was taken together with that statement's other locks, and with
    // concurrent sendMessage transactions PostgreSQL logged "deadlock detected" and failed one side (a reply ended
    // FAILED, or a send answered INTERNAL_SERVER_ERROR; test/streaming.test.ts, 8 parallel sends, every run). Alone it
    // holds that one lock, so it can wait but not deadlock.
    if (row?.sessionId) {
      await this.prisma.$executeRaw`UPDATE "Session" SET "updatedAt" = now() WHERE "id" = ${row.sessionId}`.catch(
        (error: unknown) => this.logger.warn({ err: error, messageId }, "could not record the session's activity time"),
      );
    }
    // A reply deleted with its session counts as stored: its subscribers (if any) still get the final event.
    return Number(row?.stored ?? 0) > 0 || !row?.existed;
  }

  /** The finished conversation up to this reply (its user message last), oldest first. */
  private async historyBefore(sessionId: string, messageId: string): Promise<ConversationTurn[]> {
    const rows = await this.prisma.$queryRaw<Array<{ role: "USER" | "ASSISTANT"; content: string }>>`
      SELECT "role"::text AS "role", "content" FROM "Message"
      WHERE "sessionId" = ${sessionId} AND "status" = 'COMPLETE' AND "role" IN ('USER', 'ASSISTANT')
        AND "position" < (SELECT "position" FROM "Message" WHERE "id" = ${messageId})
      ORDER BY "position"`;
    return rows.map((row) => ({ role: row.role === "USER" ? "user" : "assistant", content: row.content }));
  }
}

function failureOf(error: unknown, status: Exclude<FinalStatus, "COMPLETE">) {
  if (status === "CANCELLED") return undefined;
  if (status === "INTERRUPTED") return ReplyFailure.interrupted;
  if (error instanceof QuotaSpentError) return ReplyFailure.quotaSpent;
  if (error instanceof ModelUnavailableError) return ReplyFailure.llmUnavailable;
  // The model answered, or was never asked: a failed read or write must not be blamed on it.
  return isDatabaseError(error) ? ReplyFailure.storage : ReplyFailure.llmError;
}

/** What the reply's model calls cost, for its row; nothing when no call was answered. */
function tokensOf(meter: UsageMeter): { inputTokens?: number; outputTokens?: number } {
  return meter.calls > 0 ? { inputTokens: meter.inputTokens, outputTokens: meter.outputTokens } : {};
}
