import { MAX_FEEDBACK_COMMENT_CHARS } from "../../security/input-rules.ts";
import { builder } from "./builder.ts";
import { Message } from "./message.ts";

const MessageRating = builder.enumType("MessageRating", {
  description: "A user's verdict on an assistant reply: thumbs up or thumbs down.",
  values: ["UP", "DOWN"] as const,
});

builder.prismaObject("MessageFeedback", {
  description: "The owner's rating of an assistant reply (`rateMessage`). One per reply: rating again replaces it.",
  fields: (t) => ({
    rating: t.expose("rating", { type: MessageRating }),
    comment: t.exposeString("comment", {
      nullable: true,
      description: "Exactly as sent; null when the last rating had none.",
    }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When the reply was last rated." }),
  }),
});

// Seen by the owner only: a Message is checked against the viewer on every path, and its feedback hangs off it.
builder.prismaObjectField(Message, "feedback", (t) =>
  t.relation("feedback", {
    nullable: true,
    description: "The viewer's rating of this assistant reply; null until rated (always null for user messages).",
  }),
);

builder.relayMutationField(
  "rateMessage",
  {
    inputFields: (t) => ({
      messageId: t.globalID({
        required: true,
        for: Message,
        description: "An assistant reply of the viewer's that has ended.",
      }),
      rating: t.field({ type: MessageRating, required: true }),
      comment: t.string({
        required: false,
        description:
          `Why, in the user's words: at most ${MAX_FEEDBACK_COMMENT_CHARS.toLocaleString("en-US")} characters, stored as sent. ` +
          "Null, absent, empty or whitespace only: no comment (an earlier one is cleared).",
      }),
    }),
  },
  {
    description:
      "Rates one of the viewer's assistant replies, or changes its rating: the rating and comment replace any earlier " +
      "ones. NOT_FOUND for an unknown id or someone else's message; BAD_USER_INPUT for a message that is not an " +
      "assistant reply (`field: input.messageId`) or a comment that is too long (`field: input.comment`); " +
      "REPLY_STREAMING while the reply is still being written (rate it after its final stream event).",
    authScopes: { loggedIn: true },
    resolve: async (_root, { input }, context) => {
      await context.services.feedback.rate(context.viewer!, input.messageId.id, {
        rating: input.rating,
        comment: input.comment,
      });
      return { messageId: input.messageId.id };
    },
  },
  {
    outputFields: (t) => ({
      message: t.prismaField({
        type: Message,
        description: "The rated reply, with its `feedback`.",
        // Read back through the client's selection, as any query would read it.
        resolve: (query, payload, _args, context) =>
          context.prisma.message.findUniqueOrThrow({ ...query, where: { id: payload.messageId } }),
      }),
    }),
  },
);
