import { builder } from "./builder.ts";
import { idCursorQuery } from "./id-cursor.ts";

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
    sessions: t.relatedConnection("sessions", {
      description: "The user's chat sessions, most recently created first.",
      cursor: "id",
      query: idCursorQuery({ orderBy: [{ createdAt: "desc" as const }, { id: "desc" as const }] }),
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
