import { builder } from "./builder.ts";

export const User = builder.prismaNode("User", {
  id: { field: "id" },
  nullable: true,
  // Users can only ever load themselves, through `node` as everywhere else.
  findUnique: (id, context) => ({ id: context.viewer?.userId === id ? id : "" }),
  fields: (t) => ({
    email: t.exposeString("email"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    sessions: t.relatedConnection("sessions", {
      description: "The user's chat sessions, most recently created first.",
      cursor: "id",
      query: { orderBy: [{ createdAt: "desc" }, { id: "desc" }] },
      totalCount: true,
    }, { name: "SessionConnection" }, { name: "SessionEdge" }),
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
