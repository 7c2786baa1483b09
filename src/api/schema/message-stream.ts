import { createGraphQLError } from "graphql-yoga";
import type {
  PublishedReplyEvent,
  ReplySnapshot,
  ReplyStreamEvent,
  ReplyStreamOverflow,
} from "../../persistence/events/reply-events.ts";
import { builder } from "./builder.ts";
import { Message } from "./message.ts";
import { Session } from "./session.ts";

type EventOf<T extends PublishedReplyEvent["type"]> = Extract<PublishedReplyEvent, { type: T }>;

const MessageStreamEvent = builder.interfaceRef<ReplyStreamEvent>("MessageStreamEvent").implement({
  description: "One event of an assistant reply being generated.",
  resolveType: (event) => eventTypeNames[event.type],
  fields: (t) => ({
    messageId: t.globalID({
      description: "The id of the assistant Message this event belongs to.",
      resolve: (event) => ({ type: "Message", id: event.messageId }),
    }),
    cursor: t.exposeString("cursor", {
      description: "Position in the session's stream; resubscribe with `after:` to resume from here.",
    }),
  }),
});

builder.objectRef<ReplySnapshot>("MessageSnapshot").implement({
  interfaces: [MessageStreamEvent],
  description:
    "First event of a subscription whose `after` cursor is older than the events the server still keeps (or names " +
    "a stream position it no longer knows): instead of a replay with a hole in it, the reply's whole text so far. " +
    "Replace what you hold for this message with `content`; the deltas that follow continue it. `message` is the " +
    "stored row (its status says whether the reply has ended meanwhile).",
  fields: (t) => ({
    content: t.exposeString("text", { description: "The reply's text as of this event's cursor." }),
    message: t.prismaField({
      type: Message,
      resolve: (query, event, _args, context) =>
        context.prisma.message.findUniqueOrThrow({ ...query, where: { id: event.messageId } }),
    }),
  }),
});

builder.objectRef<EventOf<"queued">>("MessageQueued").implement({
  interfaces: [MessageStreamEvent],
  description:
    "The server is busy: the reply waits for a free slot (REPLIES_MAX_RUNNING) and starts when one is free; " +
    "`position` is its place in line when it began to wait. Deltas follow as usual.",
  fields: (t) => ({ position: t.exposeInt("position") }),
});

builder.objectRef<EventOf<"delta">>("MessageDelta").implement({
  interfaces: [MessageStreamEvent],
  description: "The next piece of the reply's text.",
  fields: (t) => ({ delta: t.exposeString("delta") }),
});

builder.objectRef<EventOf<"restarted">>("MessageRestarted").implement({
  interfaces: [MessageStreamEvent],
  description:
    "The model connection failed mid-reply and the reply starts over (a retry, or a fallback model): discard the " +
    "text received so far for this message; the deltas that follow are the whole reply.",
  fields: (t) => ({ reason: t.exposeString("reason") }),
});

builder.objectRef<EventOf<"toolStarted">>("ToolCallStarted").implement({
  interfaces: [MessageStreamEvent],
  description: "The agent started a tool (e.g. a web search) while writing this reply.",
  fields: (t) => ({
    toolCallId: t.exposeString("toolCallId", { description: "Pairs this event with its ToolCallFinished." }),
    name: t.exposeString("name"),
    arguments: t.expose("arguments", { type: "JSON" }),
  }),
});

builder.objectRef<EventOf<"toolFinished">>("ToolCallFinished").implement({
  interfaces: [MessageStreamEvent],
  description: "A tool returned; `isError` when it failed or timed out (the model is told and carries on).",
  fields: (t) => ({
    toolCallId: t.exposeString("toolCallId"),
    name: t.exposeString("name"),
    result: t.exposeString("result"),
    isError: t.exposeBoolean("isError"),
  }),
});

builder.objectRef<EventOf<"cancelled">>("MessageCancelled").implement({
  interfaces: [MessageStreamEvent],
  description: "The reply was stopped by cancelGeneration; the text so far stays stored (status CANCELLED).",
  fields: (t) => ({
    message: t.prismaField({
      type: Message,
      resolve: (query, event, _args, context) =>
        context.prisma.message.findUniqueOrThrow({ ...query, where: { id: event.messageId } }),
    }),
  }),
});

builder.objectRef<EventOf<"completed">>("MessageCompleted").implement({
  interfaces: [MessageStreamEvent],
  description: "The reply is stored; its content equals the concatenated deltas.",
  fields: (t) => ({
    message: t.prismaField({
      type: Message,
      resolve: (query, event, _args, context) =>
        context.prisma.message.findUniqueOrThrow({ ...query, where: { id: event.messageId } }),
    }),
  }),
});

builder.objectRef<EventOf<"failed">>("MessageFailed").implement({
  interfaces: [MessageStreamEvent],
  description:
    "The reply ended without completing (LLM_ERROR, LLM_UNAVAILABLE, INTERRUPTED); any partial text stays stored.",
  fields: (t) => ({ code: t.exposeString("code"), reason: t.exposeString("reason") }),
});

const eventTypeNames = {
  snapshot: "MessageSnapshot",
  queued: "MessageQueued",
  delta: "MessageDelta",
  restarted: "MessageRestarted",
  toolStarted: "ToolCallStarted",
  toolFinished: "ToolCallFinished",
  completed: "MessageCompleted",
  cancelled: "MessageCancelled",
  failed: "MessageFailed",
} as const;

builder.subscriptionField("messageStream", (t) =>
  t.field({
    type: MessageStreamEvent,
    description:
      "Reply events of one of the viewer's sessions. Subscribe before sending, or pass `after`. A subscriber that " +
      "reads slower than events come gets a reply's waiting deltas merged into one; one that falls too far behind " +
      "gets a STREAM_OVERFLOW error (extensions.resumeAfter) and the stream ends: subscribe again with that cursor.",
    args: {
      sessionId: t.arg.globalID({ required: true, for: Session }),
      after: t.arg.string({
        description:
          "A cursor (from an event, `sendMessage.streamCursor` or `Message.streamCursor`) to continue from: the events " +
          "after it are replayed (a reply's deltas merged), with no gap and no duplicate, on any instance; a cursor " +
          "older than what is kept gets one MessageSnapshot first.",
      }),
    },
    subscribe: async (_root, { sessionId, after }, context) => {
      await context.services.sessions.requireOwned(context.viewer!, sessionId.id);
      return context.services.replyEvents.subscribe(sessionId.id, { after });
    },
    resolve: (item) => {
      if (item.type === "overflow") throw streamOverflow(item);
      return item;
    },
  }),
);

/** The last result of a subscription that fell too far behind; it ends after this, holding nothing. */
function streamOverflow({ resumeAfter, pending }: ReplyStreamOverflow) {
  return createGraphQLError(
    "This subscription fell too far behind the session's events and was ended; subscribe again with " +
      "`after: extensions.resumeAfter` to continue where it stopped.",
    { extensions: { code: "STREAM_OVERFLOW", resumeAfter, pending } },
  );
}
