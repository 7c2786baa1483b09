import type { ConversationTurn } from "../agent/reply-agent.ts";
import type { Message, PrismaClient } from "../generated/prisma/client.ts";
import { withDatabaseRetry } from "../persistence/database-errors.ts";
import { messageContentRule } from "../security/input-rules.ts";
import type { Viewer } from "../security/viewer.ts";
import { AppError, notFound, parseField } from "./errors.ts";
import type { ReplyEventBus } from "../persistence/events/reply-events.ts";
import type { ReplyService } from "./replies.ts";
import type { SessionService } from "./sessions.ts";
import type { UsageService, UserSpending } from "./usage.ts";

export interface SentMessage {
  message: Message;
  reply: Message;
  /** Subscribe with `after: streamCursor` to receive the whole reply even when subscribing after sending. */
  streamCursor: string;
}

export interface MessageSettings {
  modelName: string;
  maxChars: number;
  /** While the session's previous reply streams: refuse (SESSION_BUSY) or queue this one behind it. */
  sendWhileStreaming: "reject" | "queue";
  /** REPLY_LEASE_MS: a STREAMING reply not renewed for this long belongs to a dead instance. */
  leaseMs: number;
}

/** A send waits this long for a pooled connection (Prisma's default is 2 s), then is retried, then fails. */
const TRANSACTION_MAX_WAIT_MS = 10_000;
const TRANSACTION_TIMEOUT_MS = 10_000;

/** What the send reads under the user's lock, in one statement. */
interface SendState extends UserSpending {
  owned: boolean;
  busyReplyId: string | null;
  /** A STREAMING reply whose instance stopped renewing its lease (it died): ended before this send goes on. */
  orphanReplyId: string | null;
  history: Array<{ role: "USER" | "ASSISTANT"; content: string }>;
}

export class MessageService {
  private readonly contentRule;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly sessions: SessionService,
    private readonly replies: ReplyService,
    private readonly bus: ReplyEventBus,
    private readonly usage: UsageService,
    private readonly settings: MessageSettings,
  ) {
    this.contentRule = messageContentRule(settings.maxChars);
  }

  /**
   * Stores the user's message first and for good, then the reply placeholder, then starts the agent. Four round
   * trips: begin; lock the user; read what decides (ownership, a reply still running here, the user's spending,
   * the conversation so far) while touching the session; insert both messages with commit.
   */
  async send(viewer: Viewer, sessionId: string, rawContent: string): Promise<SentMessage> {
    const content = parseField(this.contentRule, "input.content", rawContent);
    await this.sessions.requireOwned(viewer, sessionId);
    try {
      return await this.store(viewer, sessionId, content);
    } catch (error) {
      if (!(error instanceof OrphanReply)) throw error;
      // Its instance died and no sweep has ended it yet: end it now, so the session is never busy past the lease.
      await this.replies.recoverExpired(sessionId);
      return this.store(viewer, sessionId, content);
    }
  }

  private async store(viewer: Viewer, sessionId: string, content: string): Promise<SentMessage> {
    this.replies.reserve(); // OVERLOADED before anything is stored
    let started = false;
    try {
      // Taken first, so a failure here stores nothing; the new reply's events all come after it.
      const streamCursor = await this.bus.head(sessionId);
      const { message, reply, history } = await withDatabaseRetry(() =>
        this.prisma.$transaction(
          async (tx) => {
            await this.usage.lockUser(tx, viewer.userId);
            const [state] = await tx.$queryRaw<SendState[]>`
              WITH "touched" AS (
                UPDATE "Session" SET "updatedAt" = now() WHERE "id" = ${sessionId} AND "userId" = ${viewer.userId} RETURNING "id"
              )
              SELECT
                EXISTS (SELECT 1 FROM "touched") AS "owned",
                (SELECT "id" FROM "Message" WHERE "sessionId" = ${sessionId} AND "role" = 'ASSISTANT' AND "status" = 'STREAMING'
                  AND "leaseRenewedAt" >= now() - ${this.settings.leaseMs} * interval '1 millisecond' LIMIT 1) AS "busyReplyId",
                (SELECT "id" FROM "Message" WHERE "sessionId" = ${sessionId} AND "role" = 'ASSISTANT' AND "status" = 'STREAMING'
                  AND "leaseRenewedAt" < now() - ${this.settings.leaseMs} * interval '1 millisecond' LIMIT 1) AS "orphanReplyId",
                "spending".*,
                COALESCE((
                  SELECT json_agg(json_build_object('role', m."role", 'content', m."content") ORDER BY m."position")
                  FROM "Message" m
                  WHERE m."sessionId" = ${sessionId} AND m."status" = 'COMPLETE' AND m."role" IN ('USER', 'ASSISTANT')
                ), '[]'::json) AS "history"
              FROM (${this.usage.spendingSql(viewer.userId)}) AS "spending"`;
            // Deleted meanwhile (the owner check above is cached): as unknown as any other.
            if (!state?.owned) throw notFound("Session");
            if (state.orphanReplyId && !state.busyReplyId) throw new OrphanReply();
            if (state.busyReplyId && this.settings.sendWhileStreaming === "reject") {
              throw new AppError(
                "SESSION_BUSY",
                "A reply is still being generated in this session; wait for it or cancel it",
                {
                  replyId: state.busyReplyId,
                },
              );
            }
            const reservedTokens = this.usage.admitReply(state);
            // One statement, rows in order: the user's message takes the lower position.
            const [message, reply] = (
              await tx.message.createManyAndReturn({
                data: [
                  { sessionId, role: "USER", content },
                  {
                    sessionId,
                    role: "ASSISTANT",
                    content: "",
                    status: "STREAMING",
                    model: this.settings.modelName,
                    reservedTokens,
                    leaseOwner: this.replies.instanceId,
                    streamCursor,
                  },
                ],
              })
            ).sort((a, b) => (a.position < b.position ? -1 : 1));
            // Final only when no earlier reply of the session can still add to it.
            const history = state.busyReplyId
              ? undefined
              : [...state.history.map(toTurn), { role: "user" as const, content }];
            return { message: message!, reply: reply!, history };
          },
          { maxWait: TRANSACTION_MAX_WAIT_MS, timeout: TRANSACTION_TIMEOUT_MS },
        ),
      );
      this.replies.start({ userId: viewer.userId, sessionId, messageId: reply.id, ...(history ? { history } : {}) });
      started = true;
      return { message, reply, streamCursor };
    } finally {
      if (!started) this.replies.release();
    }
  }

  /**
   * Stops the session's streaming replies wherever they run; returns how many there were. One whose instance died
   * (lease run out) is ended here and now.
   */
  async cancel(viewer: Viewer, sessionId: string): Promise<number> {
    await this.sessions.requireOwned(viewer, sessionId);
    const streaming = await this.prisma.message.count({ where: { sessionId, role: "ASSISTANT", status: "STREAMING" } });
    if (streaming > 0) {
      await this.replies.cancel(sessionId);
      await this.replies.recoverExpired(sessionId, "CANCELLED");
    }
    return streaming;
  }
}

/** The send found a reply of a dead instance in the way; it is ended and the send tried once more. */
class OrphanReply extends Error {}

function toTurn(row: { role: "USER" | "ASSISTANT"; content: string }): ConversationTurn {
  return { role: row.role === "USER" ? "user" : "assistant", content: row.content };
}
