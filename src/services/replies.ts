// Runs agent replies in the background: streams deltas onto the bus and stores the result.
// A reply row is STREAMING while it runs and always ends COMPLETE, FAILED or INTERRUPTED.
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { ConversationTurn, ReplyAgent, TokenUsage } from "../agent/reply-agent.ts";
import { estimateTokens } from "../agent/token-estimate.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { ReplyEventBus } from "./reply-events.ts";
import type { UsageService } from "./usage.ts";

export const ReplyFailure = {
  llmError: { code: "LLM_ERROR", reason: "The model could not produce a reply. Try again." },
  interrupted: { code: "INTERRUPTED", reason: "The server stopped while this reply was being generated." },
} as const;

/** How often partial text is written while streaming, so a crash loses at most this much of it. */
const PARTIAL_FLUSH_INTERVAL_MS = 1000;

export interface ReplyJob {
  userId: string;
  sessionId: string;
  messageId: string;
}

export class ReplyService {
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly agent: ReplyAgent,
    private readonly bus: ReplyEventBus,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly usage: UsageService,
  ) {}

  /** Starts the reply and returns at once; the outcome arrives on the bus. */
  start(job: ReplyJob): void {
    const abort = new AbortController();
    const done = this.run(job, abort.signal).finally(() => this.running.delete(job.messageId));
    this.running.set(job.messageId, { abort, done });
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
    for (const run of this.running.values()) run.abort.abort();
    await all();
  }

  private async run({ userId, sessionId, messageId }: ReplyJob, signal: AbortSignal): Promise<void> {
    const startedAt = performance.now();
    this.metrics.activeReplies.inc();
    let content = "";
    let history: ConversationTurn[] = [];
    let usage: TokenUsage | undefined;
    let charged = false;
    let status: "COMPLETE" | "FAILED" | "INTERRUPTED" = "COMPLETE";
    try {
      history = await this.historyBefore(sessionId, messageId);
      let lastFlush = Date.now();
      for await (const chunk of this.agent.streamReply({ history, signal })) {
        if (chunk.type === "usage") {
          usage = { inputTokens: chunk.inputTokens, outputTokens: chunk.outputTokens };
          continue;
        }
        const delta = chunk.text;
        if (content === "") this.metrics.timeToFirstToken.observe((performance.now() - startedAt) / 1000);
        content += delta;
        await this.bus.publish(sessionId, { type: "delta", messageId, delta });
        if (Date.now() - lastFlush >= PARTIAL_FLUSH_INTERVAL_MS) {
          lastFlush = Date.now();
          await this.prisma.message.update({ where: { id: messageId }, data: { content } });
        }
      }
      usage ??= estimateUsage(history, content);
      await this.prisma.message.update({
        where: { id: messageId },
        data: { content, status, completedAt: new Date(), ...usage },
      });
      // Charged before the final event, so a client reading `me.usage` after it sees this reply counted.
      await this.charge(userId, usage);
      charged = true;
      await this.bus.publish(sessionId, { type: "completed", messageId });
    } catch (error) {
      const failure = signal.aborted ? ReplyFailure.interrupted : ReplyFailure.llmError;
      status = signal.aborted ? "INTERRUPTED" : "FAILED";
      this.logger.error({ err: error, sessionId, messageId }, "agent reply failed");
      // A failed call that streamed something was paid for; one that never started was not.
      if (content !== "") usage ??= estimateUsage(history, content);
      if (!charged) await this.charge(userId, usage);
      await this.fail(sessionId, messageId, content, status, failure, usage);
    } finally {
      this.metrics.activeReplies.dec();
      this.metrics.replies.inc({ status });
      this.metrics.replyDuration.observe({ status }, (performance.now() - startedAt) / 1000);
    }
  }

  private async charge(userId: string, usage: TokenUsage | undefined): Promise<void> {
    if (!usage) return;
    await this.usage
      .charge(userId, usage.inputTokens + usage.outputTokens)
      .catch((error: unknown) => this.logger.error({ err: error, userId }, "could not record token usage"));
  }

  private async fail(
    sessionId: string,
    messageId: string,
    partialContent: string,
    status: "FAILED" | "INTERRUPTED",
    failure: { code: string; reason: string },
    usage: TokenUsage | undefined,
  ): Promise<void> {
    try {
      await this.prisma.message.update({
        where: { id: messageId },
        data: {
          content: partialContent,
          status,
          errorCode: failure.code,
          errorReason: failure.reason,
          completedAt: new Date(),
          ...usage,
        },
      });
    } catch (error) {
      // The session may have been deleted mid-reply; subscribers still deserve the final event.
      this.logger.warn({ err: error, messageId }, "could not store failed reply");
    }
    await this.bus.publish(sessionId, { type: "failed", messageId, ...failure });
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

function estimateUsage(history: ConversationTurn[], output: string): TokenUsage {
  return {
    inputTokens: estimateTokens(history.map((turn) => turn.content).join("\n")),
    outputTokens: estimateTokens(output),
  };
}
