// Runs agent replies in the background: streams their events onto the bus and stores the result.
// A reply row is STREAMING while it runs and always ends COMPLETE, FAILED, CANCELLED or INTERRUPTED.
import type { PrismaClient } from "../generated/prisma/client.ts";
import { ModelUnavailableError } from "../agent/models/model-errors.ts";
import type { ConversationTurn, ReplyAgent, ReplyChunk } from "../agent/reply-agent.ts";
import { withLogContext } from "../observability/log-context.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Broadcast } from "../persistence/broadcast.ts";
import { QuotaSpentError, UsageMeter } from "./metering.ts";
import type { ReplyEventBus } from "./reply-events.ts";
import type { UsageService } from "./usage.ts";

export const ReplyFailure = {
  llmError: { code: "LLM_ERROR", reason: "The model could not produce a reply. Try again." },
  llmUnavailable: { code: "LLM_UNAVAILABLE", reason: "No model is available right now. Try again in a minute." },
  interrupted: { code: "INTERRUPTED", reason: "The server stopped while this reply was being generated." },
  quotaSpent: { code: "QUOTA_EXCEEDED", reason: "Today's token quota ran out while this reply was being written." },
} as const;

/** How often partial text is written while streaming, so a crash loses at most this much of it. */
const PARTIAL_FLUSH_INTERVAL_MS = 1000;
const CANCEL_CHANNEL = "cancel-replies";

/** Why a run was aborted; the abort reason decides the reply's final status. */
class Cancelled extends Error {}
class ShuttingDown extends Error {}

export interface ReplyJob {
  userId: string;
  sessionId: string;
  messageId: string;
}

export interface ReplyHooks {
  /** Tracing callbacks for one run. */
  callbacksFor?: (job: ReplyJob) => Parameters<ReplyAgent["streamReply"]>[0]["callbacks"];
  /** After a reply completed: e.g. extract memories from the user's message. */
  afterReply?: (job: ReplyJob & { userMessage: string }) => void;
  /** After every reply, however it ended (and after its final event): e.g. prune the session's checkpoints. */
  afterEnd?: (job: ReplyJob) => Promise<void>;
}

export class ReplyService {
  private readonly running = new Map<string, { job: ReplyJob; abort: AbortController; done: Promise<void> }>();
  /** Per session, the tail of this instance's queue of replies (SEND_WHILE_STREAMING=queue). */
  private readonly sessionTails = new Map<string, Promise<void>>();
  private readonly stopListening: () => void;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly agent: ReplyAgent,
    private readonly bus: ReplyEventBus,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly usage: UsageService,
    private readonly broadcast: Broadcast,
    private readonly hooks: ReplyHooks = {},
  ) {
    // A cancel may arrive at any instance; the one running the reply acts on it.
    this.stopListening = broadcast.subscribe(CANCEL_CHANNEL, (sessionId) => {
      for (const run of this.running.values()) if (run.job.sessionId === sessionId) run.abort.abort(new Cancelled());
    });
  }

  /** Starts the reply (after the session's earlier replies on this instance) and returns at once. */
  start(job: ReplyJob): void {
    const abort = new AbortController();
    const previous = this.sessionTails.get(job.sessionId) ?? Promise.resolve();
    const done = previous
      // The run's log lines name its user, session and reply (and the request that started it).
      .then(() => withLogContext({ userId: job.userId, sessionId: job.sessionId, messageId: job.messageId }, () => this.run(job, abort.signal)))
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

  /** Replies the previous process left STREAMING (it crashed or was killed) can never finish now. */
  async markInterrupted(): Promise<number> {
    const { count } = await this.prisma.message.updateMany({
      where: { status: "STREAMING" },
      data: {
        status: "INTERRUPTED",
        errorCode: ReplyFailure.interrupted.code,
        errorReason: ReplyFailure.interrupted.reason,
        completedAt: new Date(),
      },
    });
    return count;
  }

  /** Waits for running replies up to `graceMs`, then stops the rest; each still ends with a final event. */
  async drain(graceMs: number): Promise<void> {
    const all = () => Promise.allSettled([...this.running.values()].map((run) => run.done));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([all(), graceOver]);
    clearTimeout(timer);
    for (const run of this.running.values()) run.abort.abort(new ShuttingDown());
    await all();
    this.stopListening();
  }

  private async run(job: ReplyJob, signal: AbortSignal): Promise<void> {
    const { userId, sessionId, messageId } = job;
    const startedAt = performance.now();
    this.metrics.activeReplies.inc();
    // Every model call of the run is charged as it ends; the first was admitted with the reply's reservation.
    const meter = new UsageMeter(this.usage, userId, this.logger, { admitted: true });
    let content = "";
    let model: string | undefined;
    let status: "COMPLETE" | "FAILED" | "INTERRUPTED" | "CANCELLED" = "COMPLETE";
    try {
      signal.throwIfAborted();
      const history = await this.historyBefore(sessionId, messageId);
      let lastFlush = Date.now();
      const callbacks = this.hooks.callbacksFor?.(job);
      for await (const chunk of this.agent.streamReply({ userId, sessionId, history, signal, meter, callbacks })) {
        if (chunk.type === "model") model = chunk.name;
        else if (chunk.type === "text") {
          if (content === "") this.metrics.timeToFirstToken.observe((performance.now() - startedAt) / 1000);
          content += chunk.text;
          await this.bus.publish(sessionId, { type: "delta", messageId, delta: chunk.text });
        } else await this.onActivity(job, chunk, () => (content = ""));
        if (Date.now() - lastFlush >= PARTIAL_FLUSH_INTERVAL_MS) {
          lastFlush = Date.now();
          await this.prisma.message.update({ where: { id: messageId }, data: { content } });
        }
      }
      // Charged before the final event, so a client reading `me.usage` after it sees this reply counted.
      await meter.settled();
      await this.prisma.message.update({
        where: { id: messageId },
        data: { content, status, completedAt: new Date(), ...tokensOf(meter), ...(model ? { model } : {}) },
      });
      await this.bus.publish(sessionId, { type: "completed", messageId });
      const userMessage = history.findLast((turn) => turn.role === "user")?.content;
      if (userMessage !== undefined) this.hooks.afterReply?.({ ...job, userMessage });
    } catch (error) {
      const reason = signal.aborted ? signal.reason : undefined;
      status = reason instanceof Cancelled ? "CANCELLED" : reason ? "INTERRUPTED" : "FAILED";
      if (status === "FAILED" && !(error instanceof QuotaSpentError)) {
        this.logger.error({ err: error, sessionId, messageId }, "agent reply failed");
      }
      await meter.settled();
      await this.end(job, content, status, failureOf(error, status), tokensOf(meter));
    } finally {
      const seconds = (performance.now() - startedAt) / 1000;
      this.metrics.activeReplies.dec();
      this.metrics.replies.inc({ status });
      this.metrics.replyDuration.observe({ status }, seconds);
      this.logger.info({ status, durationMs: Math.round(seconds * 1000), model, ...tokensOf(meter) }, "reply finished");
      // Part of the run, so shutdown waits for it; the client already has its final event.
      await this.hooks.afterEnd?.(job);
    }
  }

  /** Tool calls are stored as they happen and streamed; a restart discards the text streamed so far. */
  private async onActivity(job: ReplyJob, chunk: ReplyChunk, discardText: () => void): Promise<void> {
    const { sessionId, messageId } = job;
    if (chunk.type === "restart") {
      discardText();
      await this.bus.publish(sessionId, { type: "restarted", messageId, reason: chunk.reason });
    } else if (chunk.type === "toolStarted") {
      await this.prisma.toolCall.create({
        data: { messageId, callId: chunk.callId, name: chunk.name, arguments: chunk.arguments as object },
      });
      await this.bus.publish(sessionId, {
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
      await this.bus.publish(sessionId, {
        type: "toolFinished",
        messageId,
        toolCallId: chunk.callId,
        name: chunk.name,
        result: chunk.result,
        isError: chunk.isError,
      });
    }
  }

  private async end(
    { sessionId, messageId }: ReplyJob,
    partialContent: string,
    status: "FAILED" | "INTERRUPTED" | "CANCELLED",
    failure: { code: string; reason: string } | undefined,
    tokens: ReturnType<typeof tokensOf>,
  ): Promise<void> {
    try {
      await this.prisma.message.update({
        where: { id: messageId },
        data: {
          content: partialContent,
          status,
          errorCode: failure?.code ?? null,
          errorReason: failure?.reason ?? null,
          completedAt: new Date(),
          ...tokens,
        },
      });
    } catch (error) {
      // The session may have been deleted mid-reply; subscribers still deserve the final event.
      this.logger.warn({ err: error, messageId }, "could not store the ended reply");
    }
    if (failure) this.metrics.replyFailures.inc({ code: failure.code });
    await this.bus.publish(
      sessionId,
      status === "CANCELLED" ? { type: "cancelled", messageId } : { type: "failed", messageId, ...failure! },
    );
  }

  /** The finished conversation before this reply, oldest first. */
  private async historyBefore(sessionId: string, messageId: string): Promise<ConversationTurn[]> {
    const reply = await this.prisma.message.findUniqueOrThrow({ where: { id: messageId }, select: { position: true } });
    const rows = await this.prisma.message.findMany({
      where: { sessionId, position: { lt: reply.position }, status: "COMPLETE", role: { in: ["USER", "ASSISTANT"] } },
      orderBy: { position: "asc" },
      select: { role: true, content: true },
    });
    return rows.map((row) => ({ role: row.role === "USER" ? "user" : "assistant", content: row.content }));
  }
}

function failureOf(error: unknown, status: "FAILED" | "INTERRUPTED" | "CANCELLED") {
  if (status === "CANCELLED") return undefined;
  if (status === "INTERRUPTED") return ReplyFailure.interrupted;
  if (error instanceof QuotaSpentError) return ReplyFailure.quotaSpent;
  return error instanceof ModelUnavailableError ? ReplyFailure.llmUnavailable : ReplyFailure.llmError;
}

/** What the reply's model calls cost, for its row; nothing when no call was answered. */
function tokensOf(meter: UsageMeter): { inputTokens?: number; outputTokens?: number } {
  return meter.calls > 0 ? { inputTokens: meter.inputTokens, outputTokens: meter.outputTokens } : {};
}
