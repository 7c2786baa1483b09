import { API_KEY_FORBIDDEN, AppError } from "../../services/errors.ts";
import type { GraphQLContext } from "../context.ts";
import { builder } from "./builder.ts";

const ApiKey = builder.prismaNode("ApiKey", {
  id: { field: "id" },
  nullable: true,
  description:
    "A credential for a partner's backend: send its secret as the `x-api-key` header (HTTP, SSE) or " +
    "`connectionParams.apiKey` (graphql-ws). It acts as its owner, within its own rate limits, and cannot manage keys " +
    "or sign-ins. Only `prefix` of the secret is kept in clear.",
  // Foreign and unknown ids load nothing alike: `node(id:)` answers null for both.
  findUnique: (id, context) => ({ id, userId: context.viewer?.userId ?? "" }),
  runScopesOnType: true,
  authScopes: (apiKey) => ({ owner: apiKey.userId }),
  fields: (t) => ({
    name: t.exposeString("name"),
    prefix: t.exposeString("prefix", {
      description: "The secret's first 12 characters (`agk_` and 8 more), to recognise it; not usable on its own.",
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    expiresAt: t.expose("expiresAt", { type: "DateTime", nullable: true, description: "Null: never expires." }),
    lastUsedAt: t.expose("lastUsedAt", {
      type: "DateTime",
      nullable: true,
      description: "When it last authenticated a request, to the minute; null if never.",
    }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true, description: "Null while it works." }),
  }),
});

/** Keys act as their owner except here: they cannot mint or revoke keys, sign in, refresh tokens or sign out. */
export function refuseApiKey(context: GraphQLContext): void {
  if (context.viewer?.apiKeyId) throw new AppError("FORBIDDEN", API_KEY_FORBIDDEN);
}

builder.relayMutationField(
  "createApiKey",
  {
    inputFields: (t) => ({
      name: t.string({ required: true, description: "What you call it, 1–100 characters (say, the partner's name)." }),
      expiresAt: t.field({
        type: "DateTime",
        required: false,
        description: "When it stops working; must be in the future. Omitted: it works until revoked.",
      }),
    }),
  },
  {
    description:
      "Creates an API key for the signed-in user and returns its secret, once (only its SHA-256 is stored). FORBIDDEN " +
      "with an API key.",
    authScopes: { loggedIn: true },
    resolve: (_root, { input }, context) => {
      refuseApiKey(context);
      return context.services.apiKeys.create(context.viewer!, input);
    },
  },
  {
    outputFields: (t) => ({
      apiKey: t.field({ type: ApiKey, resolve: (payload) => payload.apiKey }),
      secret: t.exposeString("secret", {
        description: "The key itself, shown this once: store it in the partner's secret store, never in a web page.",
      }),
    }),
  },
);

builder.relayMutationField(
  "revokeApiKey",
  { inputFields: (t) => ({ apiKeyId: t.globalID({ required: true, for: ApiKey }) }) },
  {
    description:
      "Revokes one of the viewer's API keys at once, on every instance: requests with it are UNAUTHENTICATED and its " +
      "open subscriptions end. Revoking a revoked key returns it unchanged. FORBIDDEN with an API key.",
    authScopes: { loggedIn: true },
    resolve: async (_root, { input }, context) => {
      refuseApiKey(context);
      return { apiKey: await context.services.apiKeys.revoke(context.viewer!, input.apiKeyId.id) };
    },
  },
  { outputFields: (t) => ({ apiKey: t.field({ type: ApiKey, resolve: (payload) => payload.apiKey }) }) },
);
