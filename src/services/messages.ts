import type { Message, PrismaClient } from "../generated/prisma/client.ts";
import { messageContentRule } from "../security/input-rules.ts";
import type { Viewer } from "../security/viewer.ts";
import { AppError, parseField } from "./errors.ts";
import type { ReplyEventBus } from "./reply-events.ts";
import type { ReplyService } from "./replies.ts";
import type { SessionService } from "./sessions.ts";
import type { UsageService } from "./usage.ts";

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

  /** Stores the user's message first and for good, then the reply placeholder, then starts the agent. */
  async send(viewer: Viewer, sessionId: string, rawContent: string): Promise<SentMessage> {
    const content = parseField(this.contentRule, "input.content", rawContent);
    await this.sessions.requireOwned(viewer, sessionId);
    const { message, reply } = await this.prisma.$transaction(async (tx) => {
      // The user's row lock makes "is a reply still streaming here?", "may the user start one more?" and the
      // inserts one step, across instances: only the owner sends to a session.
      const spending = await this.usage.lockForReply(tx, viewer.userId);
      if (this.settings.sendWhileStreaming === "reject") {
        const streaming = await tx.message.findFirst({
          where: { sessionId, role: "ASSISTANT", status: "STREAMING" },
          select: { id: true },
        });
        if (streaming) {
          throw new AppError("SESSION_BUSY", "A reply is still being generated in this session; wait for it or cancel it", {
            replyId: streaming.id,
          });
        }
      }
      const reservedTokens = this.usage.admitReply(spending);
      const message = await tx.message.create({ data: { sessionId, role: "USER", content } });
      const reply = await tx.message.create({
        data: { sessionId, role: "ASSISTANT", content: "", status: "STREAMING", model: this.settings.modelName, reservedTokens },
      });
      await tx.session.update({ where: { id: sessionId }, data: { updatedAt: new Date() } });
      return { message, reply };
    });
    const streamCursor = await this.bus.head(sessionId);
    this.replies.start({ userId: viewer.userId, sessionId, messageId: reply.id });
    return { message, reply, streamCursor };
  }

  /** Stops the session's streaming replies; returns how many there were. */
  async cancel(viewer: Viewer, sessionId: string): Promise<number> {
    await this.sessions.requireOwned(viewer, sessionId);
    const streaming = await this.prisma.message.count({ where: { sessionId, role: "ASSISTANT", status: "STREAMING" } });
    if (streaming > 0) await this.replies.cancel(sessionId);
    return streaming;
  }
}
