import type { Message, PrismaClient } from "../generated/prisma/client.ts";
import { messageContentRule } from "../security/input-rules.ts";
import type { Viewer } from "../security/viewer.ts";
import { parseField } from "./errors.ts";
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

export class MessageService {
  private readonly contentRule;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly sessions: SessionService,
    private readonly replies: ReplyService,
    private readonly bus: ReplyEventBus,
    private readonly usage: UsageService,
    private readonly modelName: string,
    maxChars: number,
  ) {
    this.contentRule = messageContentRule(maxChars);
  }

  /** Stores the user's message first and for good, then the reply placeholder, then starts the agent. */
  async send(viewer: Viewer, sessionId: string, rawContent: string): Promise<SentMessage> {
    const content = parseField(this.contentRule, "input.content", rawContent);
    await this.sessions.requireOwned(viewer, sessionId);
    await this.usage.requireQuota(viewer.userId);
    const message = await this.prisma.message.create({ data: { sessionId, role: "USER", content } });
    const [reply] = await this.prisma.$transaction([
      this.prisma.message.create({
        data: { sessionId, role: "ASSISTANT", content: "", status: "STREAMING", model: this.modelName },
      }),
      this.prisma.session.update({ where: { id: sessionId }, data: { updatedAt: new Date() } }),
    ]);
    const streamCursor = await this.bus.head();
    this.replies.start({ userId: viewer.userId, sessionId, messageId: reply.id });
    return { message, reply, streamCursor };
  }
}
