import { builder } from "./builder.ts";
import { idCursorQuery } from "./id-cursor.ts";

const SessionOrder = builder.enumType("SessionOrder", {
  description: "How `me.sessions` is ordered; ties go to the newer id.",
  values: {
    CREATED_AT_DESC: { description: "Most recently created first (the default)." },
    UPDATED_AT_DESC: {
      description:
        "Newest activity first: `updatedAt` moves when a message is sent, when its reply ends, and on a rename.",
    },
  },
});

const SESSION_ORDERS = {
  CREATED_AT_DESC: { orderBy: [{ createdAt: "desc" as const }, { id: "desc" as const }] },
  UPDATED_AT_DESC: { orderBy: [{ updatedAt: "desc" as const }, { id: "desc" as const }] },
};

export const User = builder.prismaNode("User", {
  id: { field: "id" },
  nullable: true,
  // Users can only ever load themselves, through `node` as everywhere else; the type check backs that up on
  // every path (credentials just issued to an anonymous caller are granted `newCredentials`).
  findUnique: (id, context) => ({ id: context.viewer?.userId === id ? id : "" }),
  // Checked per field rather than on the type: type-level checks cannot see scopes granted by the parent field.
  authScopes: (user) => ({ $any: { owner: user.id, $granted: "newCredentials" } }),
  fields: (t) => ({
    email: t.exposeString("email"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    sessions: t.relatedConnection(
      "sessions",
      {
        description: "The user's chat sessions, most recently created first unless `orderBy` says otherwise.",
        cursor: "id",
        args: { orderBy: t.arg({ type: SessionOrder, required: true, defaultValue: "CREATED_AT_DESC" }) },
        query: (args) => idCursorQuery(SESSION_ORDERS[args.orderBy])(args),
        totalCount: true,
      },
      { name: "SessionConnection" },
      { name: "SessionEdge" },
    ),
    apiKeys: t.relation("apiKeys", {
      description: "The user's API keys, newest first, revoked ones included (their secrets are never shown again).",
      query: { orderBy: [{ createdAt: "desc" as const }, { id: "desc" as const }] },
    }),
  }),
});

builder.queryField("me", (t) =>
  t.prismaField({
    type: User,
    nullable: true,
    description: "The signed-in user, or null for an anonymous caller.",
    skipTypeScopes: true,
    resolve: (query, _root, _args, context) =>
      context.viewer ? context.prisma.user.findUnique({ ...query, where: { id: context.viewer.userId } }) : null,
  }),
);
