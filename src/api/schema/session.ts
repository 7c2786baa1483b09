import { notFound } from "../../services/errors.ts";
import { builder } from "./builder.ts";
import { idCursorQuery } from "./id-cursor.ts";

export const Session = builder.prismaNode("Session", {
  id: { field: "id" },
  nullable: true,
  // Foreign and unknown ids load nothing alike: `node(id:)` answers null for both.
  findUnique: (id, context) => ({ id, userId: context.viewer?.userId ?? "" }),
  // Whatever path loads a session (root field, node, a future relation), it is shown to its owner only.
  runScopesOnType: true,
  authScopes: (session) => ({ owner: session.userId }),
  fields: (t) => ({
    name: t.exposeString("name"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    messages: t.relatedConnection(
      "messages",
      {
        description: "The conversation, oldest message first.",
        // Ordered by the global insertion order, but the cursor is the message's own id: `position` would tell every
        // client how many messages the whole platform holds. Prisma pages from the id's row in `position` order.
        cursor: "id",
        query: idCursorQuery({ orderBy: { position: "asc" } }),
        totalCount: true,
      },
      { name: "MessageConnection" },
      { name: "MessageEdge" },
    ),
    activeReply: t.prismaField({
      type: "Message",
      nullable: true,
      description:
        "The reply still being generated in this session (status STREAMING), on whichever instance runs it; null when " +
        "none. To rejoin it (after a reload): subscribe `messageStream(sessionId, after: activeReply.streamCursor)`.",
      resolve: (query, session, _args, context) =>
        context.prisma.message.findFirst({
          ...query,
          where: { sessionId: session.id, role: "ASSISTANT", status: "STREAMING" },
          orderBy: { position: "desc" },
        }),
    }),
  }),
});

builder.queryField("session", (t) =>
  t.withAuth({ loggedIn: true }).prismaField({
    type: Session,
    nullable: true,
    description: "One of the viewer's sessions; NOT_FOUND for an unknown id or someone else's.",
    args: { id: t.arg.globalID({ required: true, for: Session }) },
    resolve: async (query, _root, { id }, context) => {
      await context.services.sessions.requireOwned(context.viewer, id.id);
      // Deleted meanwhile (on another instance, whose owner check is cached): as unknown as any other.
      const session = await context.prisma.session.findUnique({ ...query, where: { id: id.id } });
      if (!session) throw notFound("Session");
      return session;
    },
  }),
);

builder.relayMutationField(
  "createSession",
  { inputFields: (t) => ({ name: t.string({ required: false, description: 'Defaults to "New chat".' }) }) },
  {
    authScopes: { loggedIn: true },
    resolve: async (_root, { input }, context) => ({
      session: await context.services.sessions.create(context.viewer!, input),
    }),
  },
  { outputFields: (t) => ({ session: t.field({ type: Session, resolve: (payload) => payload.session }) }) },
);

builder.relayMutationField(
  "renameSession",
  {
    inputFields: (t) => ({
      sessionId: t.globalID({ required: true, for: Session }),
      name: t.string({ required: true }),
    }),
  },
  {
    authScopes: { loggedIn: true },
    resolve: async (_root, { input }, context) => ({
      session: await context.services.sessions.rename(context.viewer!, input.sessionId.id, input.name),
    }),
  },
  { outputFields: (t) => ({ session: t.field({ type: Session, resolve: (payload) => payload.session }) }) },
);

builder.relayMutationField(
  "deleteSession",
  { inputFields: (t) => ({ sessionId: t.globalID({ required: true, for: Session }) }) },
  {
    authScopes: { loggedIn: true },
    resolve: async (_root, { input }, context) => {
      await context.services.sessions.delete(context.viewer!, input.sessionId.id);
      return { deletedSessionId: input.sessionId.id };
    },
  },
  {
    outputFields: (t) => ({
      deletedSessionId: t.globalID({
        description: "The global id of the deleted session (evict it from client caches).",
        resolve: (payload) => ({ type: "Session", id: payload.deletedSessionId }),
      }),
    }),
  },
);
