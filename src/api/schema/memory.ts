import { resolveCursorConnection } from "@pothos/plugin-relay";
import type { Memory as MemoryRow } from "../../generated/prisma/client.ts";
import { memoryCursor } from "../../services/memories.ts";
import { builder } from "./builder.ts";
import { User } from "./user.ts";

const Memory = builder.prismaNode("Memory", {
  id: { field: "id" },
  nullable: true,
  description:
    "A fact the agent remembers about the user across sessions, taken from the user's own messages and recalled " +
    "before it answers. The user can read, search and delete them.",
  // Foreign and unknown ids load nothing alike: `node(id:)` answers null for both.
  findUnique: (id, context) => ({ id, userId: context.viewer?.userId ?? "" }),
  // Whatever path loads a memory, it is shown to its owner only.
  runScopesOnType: true,
  authScopes: (memory) => ({ owner: memory.userId }),
  fields: (t) => ({
    content: t.exposeString("content", { description: 'One sentence about the user, e.g. "User lives in Berlin".' }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When the fact was last restated or changed." }),
  }),
});

builder.objectField(User, "memories", (t) =>
  t.connection(
    {
      type: Memory,
      description: "What the agent remembers about the user, newest first.",
      args: {
        query: t.arg.string({
          required: false,
          description: 'Full-text filter, web-search style: words (all must match), "a phrase", -excluded.',
        }),
      },
      // User fields are checked against the viewer by the type's scopes, so `user.id` is the viewer's id.
      resolve: (user, args, context) =>
        resolveCursorConnection<Promise<MemoryRow[]>>(
          { args, toCursor: (memory) => memoryCursor(memory) },
          ({ after, before, limit, inverted }) =>
            context.services.memories.list(user.id, {
              first: limit,
              after,
              before,
              oldestFirst: inverted,
              query: args.query,
            }),
        ),
    },
    { name: "MemoryConnection" },
    { name: "MemoryEdge" },
  ),
);

builder.relayMutationField(
  "deleteMemory",
  { inputFields: (t) => ({ memoryId: t.globalID({ required: true, for: Memory }) }) },
  {
    description: "Forgets one memory; NOT_FOUND for an unknown id or someone else's.",
    authScopes: { loggedIn: true },
    resolve: async (_root, { input }, context) => {
      await context.services.memories.delete(context.viewer!.userId, input.memoryId.id);
      return { deletedMemoryId: input.memoryId.id };
    },
  },
  {
    outputFields: (t) => ({
      deletedMemoryId: t.globalID({
        description: "The global id of the deleted memory (evict it from client caches).",
        resolve: (payload) => ({ type: "Memory", id: payload.deletedMemoryId }),
      }),
    }),
  },
);

const ClearMemoriesPayload = builder.objectRef<{ deletedCount: number }>("ClearMemoriesPayload").implement({
  fields: (t) => ({ deletedCount: t.exposeInt("deletedCount", { description: "How many memories were forgotten." }) }),
});

builder.mutationField("clearMemories", (t) =>
  t.withAuth({ loggedIn: true }).field({
    type: ClearMemoriesPayload,
    description: "Forgets everything the agent remembers about the viewer.",
    resolve: async (_root, _args, context) => ({
      deletedCount: await context.services.memories.clear(context.viewer.userId),
    }),
  }),
);
