// Users' ratings of assistant replies (rateMessage): stored once per reply, replaced when rated again, and handed
// to a sink (the composition root sends them to Langfuse as a score on the reply's trace). Read back in bulk by
// the evals exporter (listRatedReplies).
import { Prisma, type MessageFeedback, type PrismaClient } from "../generated/prisma/client.ts";
import { feedbackCommentRule } from "../security/input-rules.ts";
import type { Viewer } from "../security/viewer.ts";
import { AppError, notFound, parseField } from "./errors.ts";

export type Rating = "UP" | "DOWN";

export interface RatingInput {
  rating: Rating;
  /** At most MAX_FEEDBACK_COMMENT_CHARS, stored as sent; null, absent, empty or whitespace only: no comment. */
  comment?: string | null;
}

/** A rating as it was stored, for whatever else should hear of it. */
export interface RatedMessage {
  messageId: string;
  sessionId: string;
  rating: Rating;
  comment: string | null;
}

export class FeedbackService {
  constructor(
    private readonly prisma: PrismaClient,
    /**
     * Hears every stored rating (e.g. to score the reply's trace). Called after the write, must return at once
     * and never throw: a rating is stored whatever happens to it there.
     */
    private readonly onRated: (rated: RatedMessage) => void = () => {},
  ) {}

  /**
   * Rates one of the viewer's assistant replies, replacing any earlier rating and comment. NOT_FOUND for an unknown
   * id or someone else's message; BAD_USER_INPUT (`input.messageId`) for a message that is not a reply;
   * REPLY_STREAMING while the reply is still being written (a reply that ended FAILED, CANCELLED or INTERRUPTED can
   * be rated).
   */
  async rate(viewer: Viewer, messageId: string, input: RatingInput): Promise<MessageFeedback> {
    const comment =
      input.comment == null || input.comment.trim() === ""
        ? null
        : parseField(feedbackCommentRule, "input.comment", input.comment);
    const message = await this.prisma.message.findFirst({
      where: { id: messageId, session: { userId: viewer.userId } },
      select: { role: true, status: true, sessionId: true },
    });
    if (!message) throw notFound("Message");
    if (message.role !== "ASSISTANT") {
      throw new AppError("BAD_USER_INPUT", "input.messageId must be an assistant reply: only replies can be rated", {
        field: "input.messageId",
      });
    }
    if (message.status === "STREAMING") {
      throw new AppError("REPLY_STREAMING", "The reply is still being written; rate it once it has ended");
    }
    let feedback: MessageFeedback;
    try {
      feedback = await this.prisma.messageFeedback.upsert({
        where: { messageId },
        create: { messageId, rating: input.rating, comment },
        update: { rating: input.rating, comment },
      });
    } catch (error) {
      // Deleted with its session between the read and the write.
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2003") throw notFound("Message");
      throw error;
    }
    this.onRated({ messageId, sessionId: message.sessionId, rating: feedback.rating, comment: feedback.comment });
    return feedback;
  }
}

/** One rated reply with what it answered, as the evals exporter reads it. */
export interface RatedReply {
  messageId: string;
  sessionId: string;
  rating: Rating;
  comment: string | null;
  /** The reply's text as stored. */
  reply: string;
  /** The user message just before the reply in its session ("" if there is none). */
  userMessage: string;
  /** When it was last rated. */
  ratedAt: Date;
}

/**
 * Rated assistant replies, oldest rating first (ties by message id): those rated at or after `since`, at most
 * `limit` of them (all when absent). A re-rated reply appears once, at its latest rating.
 */
export async function listRatedReplies(
  prisma: PrismaClient,
  { since, limit }: { since?: Date; limit?: number } = {},
): Promise<RatedReply[]> {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0))
    throw new RangeError("limit must be a non-negative integer");
  return prisma.$queryRaw<RatedReply[]>`
    SELECT f."messageId", m."sessionId", f."rating"::text AS "rating", f."comment", m."content" AS "reply",
      COALESCE((
        SELECT u."content" FROM "Message" u
        WHERE u."sessionId" = m."sessionId" AND u."role" = 'USER' AND u."position" < m."position"
        ORDER BY u."position" DESC LIMIT 1
      ), '') AS "userMessage",
      f."updatedAt" AS "ratedAt"
    FROM "MessageFeedback" f
    JOIN "Message" m ON m."id" = f."messageId"
    WHERE m."role" = 'ASSISTANT' ${since ? Prisma.sql`AND f."updatedAt" >= ${since}` : Prisma.empty}
    ORDER BY f."updatedAt", f."messageId"
    ${limit !== undefined ? Prisma.sql`LIMIT ${limit}` : Prisma.empty}`;
}
