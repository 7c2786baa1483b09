import { encodeGlobalID } from "@pothos/plugin-relay";
import { AppError } from "../../services/errors.ts";
import { builder } from "./builder.ts";
import { Session } from "./session.ts";
import "./tool-call.ts";

const MessageRole = builder.enumType("MessageRole", { values: ["USER", "ASSISTANT", "SYSTEM", "TOOL"] as const });

const MessageStatus = builder.enumType("MessageStatus", {
  description:
    "Replies start STREAMING and end COMPLETE, FAILED, INTERRUPTED (the server stopped mid-reply) or CANCELLED " +
    "(cancelGeneration); a reply that did not complete keeps the text it had.",
  values: ["STREAMING", "COMPLETE", "FAILED", "INTERRUPTED", "CANCELLED"] as const,
});

export const Message = builder.prismaNode("Message", {
  id: { field: "id" },
  nullable: true,
  findUnique: (id, context) => ({ id, session: { userId: context.viewer?.userId ?? "" } }),
  include: { session: { select: { userId: true } } },
  runScopesOnType: true,
  authScopes: (message) => ({ owner: message.session.userId }),
  fields: (t) => ({
    role: t.expose("role", { type: MessageRole }),
    content: t.exposeString("content", { description: "Exactly as sent (user) or as generated so far (assistant)." }),
    status: t.expose("status", { type: MessageStatus }),
    errorCode: t.exposeString("errorCode", { nullable: true, description: "Why a reply FAILED or was INTERRUPTED." }),
    model: t.exposeString("model", { nullable: true, description: "The model that wrote an assistant reply." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    completedAt: t.expose("completedAt", { type: "DateTime", nullable: true }),
    streamCursor: t.exposeString("streamCursor", {
      nullable: true,
      description:
        "An assistant reply's position in its session's stream just before its first event: " +
        "`messageStream(after: streamCursor)` delivers the reply from its start (e.g. to rejoin `Session.activeReply` " +
        "after a reload). Null for user messages.",
    }),
    inputTokens: t.exposeInt("inputTokens", {
      nullable: true,
      description: "Prompt tokens a reply cost, summed over its model calls (provider-reported, else estimated).",
    }),
    outputTokens: t.exposeInt("outputTokens", { nullable: true, description: "Generated tokens a reply cost." }),
    session: t.relation("session"),
    toolCalls: t.relation("toolCalls", {
      query: { orderBy: { startedAt: "asc" } },
      // Priced as at most this many per reply (query cost), so a page of history with its tool calls stays cheap.
      extensions: { maxItems: 10 },
    }),
  }),
});

builder.relayMutationField(
  "sendMessage",
  {
    inputFields: (t) => ({
      sessionId: t.globalID({ required: true, for: Session }),
      content: t.string({
        required: true,
        description: "1 to MAX_MESSAGE_CHARS characters after trimming; stored as sent.",
      }),
    }),
  },
  {
    description: "Stores the message and starts the agent's reply; follow it with `messageStream`.",
    authScopes: { loggedIn: true },
    resolve: async (_root, { input }, context) => {
      try {
        return await context.services.messages.send(context.viewer!, input.sessionId.id, input.content);
      } catch (error) {
        // The running reply, as a global id like every id a client holds.
        if (error instanceof AppError && error.code === "SESSION_BUSY" && typeof error.details.replyId === "string") {
          throw new AppError(error.code, error.message, {
            ...error.details,
            replyId: encodeGlobalID("Message", error.details.replyId),
          });
        }
        throw error;
      }
    },
  },
  {
    outputFields: (t) => ({
      // The rows the send just stored, as they are: no read back (relations a client selects are loaded on demand).
      message: t.field({
        type: Message,
        description: "The stored user message.",
        resolve: (sent, _args, context) => ({ ...sent.message, session: { userId: context.viewer!.userId } }),
      }),
      reply: t.field({
        type: Message,
        description: "The assistant reply, STREAMING until its final stream event.",
        resolve: (sent, _args, context) => ({ ...sent.reply, session: { userId: context.viewer!.userId } }),
      }),
      streamCursor: t.exposeString("streamCursor", {
        description: "Pass as `messageStream(after:)` to receive the whole reply even if you subscribe after sending.",
      }),
    }),
  },
);

builder.relayMutationField(
  "cancelGeneration",
  { inputFields: (t) => ({ sessionId: t.globalID({ required: true, for: Session }) }) },
  {
    description:
      "Stops the session's reply being generated (and any queued after it), on whichever instance runs it. " +
      "The text so far is kept with status CANCELLED and the stream ends with MessageCancelled.",
    authScopes: { loggedIn: true },
    resolve: async (_root, { input }, context) => {
      const cancelled = await context.services.messages.cancel(context.viewer!, input.sessionId.id);
      return { cancelledReplies: cancelled };
    },
  },
  {
    outputFields: (t) => ({
      cancelledReplies: t.int({
        description: "How many replies were still streaming (0: nothing to stop; not an error).",
        resolve: (payload) => payload.cancelledReplies,
      }),
    }),
  },
);
