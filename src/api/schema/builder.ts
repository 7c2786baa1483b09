// The Pothos builder: plugins, scalars, context and auth scopes. Object types live in one file each.
import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin, { decodeGlobalID } from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import { GraphQLError, Kind } from "graphql";
import { createGraphQLError } from "graphql-yoga";
import type PrismaTypes from "../../generated/pothos-types.ts";
import { getDatamodel } from "../../generated/pothos-types.ts";
import type { Viewer } from "../../security/viewer.ts";
import type { GraphQLContext } from "../context.ts";

/** Most ids one `nodes(ids:)` call takes; more are refused before anything runs (QUERY_LIMIT_EXCEEDED, `limit: "ids"`). */
const MAX_NODE_IDS = 100;

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  PrismaTypes: PrismaTypes;
  AuthScopes: {
    loggedIn: boolean;
    /** The viewer is this user id: the ownership check every user-owned type runs on every object. */
    owner: string;
  };
  AuthContexts: { loggedIn: GraphQLContext & { viewer: Viewer } };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  // Non-null unless a field says otherwise: clients get the types the contract promises.
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin],
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (context) => ({
      loggedIn: context.viewer !== null,
      owner: (userId) => context.viewer?.userId === userId,
    }),
    // A signed-in viewer reaching someone else's object gets the answer an unknown id gets: no existence oracle.
    unauthorizedError: (_parent, context) =>
      context.viewer
        ? createGraphQLError("Not found", { extensions: { code: "NOT_FOUND" } })
        : createGraphQLError("You must be signed in to do this", { extensions: { code: "UNAUTHENTICATED" } }),
  },
  prisma: {
    client: (context) => context.prisma,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    // A resolver that forgets to spread `query` silently causes N+1 queries: fail loudly (tests cover every resolver).
    onUnusedQuery: "error",
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
    nodesQueryOptions: {
      description: `The objects with these global ids, in order (null for an unknown or foreign id); at most ${MAX_NODE_IDS} ids.`,
      // Read by the query cost (use-query-cost.ts): priced per id, and refused beyond this many.
      extensions: { maxItems: MAX_NODE_IDS },
    },
    // Every row id is a UUID. Anything else inside a well-formed global id (say, a NUL that PostgreSQL would
    // choke on) cannot name a row, so it is treated as an id that matches nothing: the unknown-id answer.
    decodeGlobalID: (globalID) => {
      const decoded = decodeGlobalID(globalID);
      return UUID.test(decoded.id) ? decoded : { ...decoded, id: NO_ROW };
    },
  },
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NO_ROW = "00000000-0000-0000-0000-000000000000";

builder.scalarType("DateTime", {
  description: "An ISO-8601 date-time in UTC, e.g. 2026-11-25T10:00:00.000Z",
  serialize: (value) => value.toISOString(),
  parseValue: (value) => parseDate(value),
  parseLiteral: (ast) => parseDate(ast.kind === Kind.STRING ? ast.value : undefined),
});

builder.scalarType("JSON", {
  description: "Any JSON value (tool arguments, as the model produced them).",
  serialize: (value) => value,
  parseValue: (value) => value,
});

function parseDate(value: unknown): Date {
  const date = typeof value === "string" ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw new GraphQLError("DateTime must be an ISO-8601 string");
  return date;
}
