import { builder } from "./builder.ts";
import { Session } from "./session.ts";

export const MessageRole = builder.enumType("MessageRole", { values: ["USER", "ASSISTANT", "SYSTEM", "TOOL"] as const });

export const MessageStatus = builder.enumType("MessageStatus", {
  description: "Replies start STREAMING and end COMPLETE, FAILED or INTERRUPTED (the server stopped mid-reply).",
  values: ["STREAMING", "COMPLETE", "FAILED", "INTERRUPTED"] as const,
});

export const Message = builder.prismaNode("Message", {
  id: { field: "id" },
  nullable: true,
  findUnique: (id, context) => ({ id, session: { userId: context.viewer?.userId ?? "" } }),
  fields: (t) => ({
    role: t.expose("role", { type: MessageRole }),
    content: t.exposeString("content", { description: "Exactly as sent (user) or as generated so far (assistant)." }),
    status: t.expose("status", { type: MessageStatus }),
    errorCode: t.exposeString("errorCode", { nullable: true, description: "Why a reply FAILED or was INTERRUPTED." }),
    model: t.exposeString("model", { nullable: true, description: "The model that wrote an assistant reply." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    completedAt: t.expose("completedAt", { type: "DateTime", nullable: true }),
    session: t.relation("session"),
  }),
});

builder.relayMutationField(
  "sendMessage",
  {
    inputFields: (t) => ({
      sessionId: t.globalID({ required: true, for: Session }),
      content: t.string({ required: true, description: "1 to MAX_MESSAGE_CHARS characters after trimming; stored as sent." }),
    }),
  },
  {
    description: "Stores the message and starts the agent's reply; follow it with `messageStream`.",
    authScopes: { loggedIn: true },
    resolve: (_root, { input }, context) =>
      context.services.messages.send(context.viewer!, input.sessionId.id, input.content),
  },
  {
    outputFields: (t) => ({
      message: t.field({ type: Message, description: "The stored user message.", resolve: (sent) => sent.message }),
      reply: t.field({
        type: Message,
        description: "The assistant reply, STREAMING until its final stream event.",
        resolve: (sent) => sent.reply,
      }),
      streamCursor: t.exposeString("streamCursor", {
        description: "Pass as `messageStream(after:)` to receive the whole reply even if you subscribe after sending.",
      }),
    }),
  },
);
