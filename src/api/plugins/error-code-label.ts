import { GraphQLError } from "graphql";

/** Every `extensions.code` the API documents (docs/clients.md, "Errors"), plus Yoga's own and the shutdown refusal. */
const DOCUMENTED_CODES = new Set([
  "BAD_USER_INPUT",
  "BAD_REQUEST",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "NOT_FOUND",
  "QUOTA_EXCEEDED",
  "SESSION_BUSY",
  "REPLY_STREAMING",
  "REPLY_LIMIT_EXCEEDED",
  "OVERLOADED",
  "SUBSCRIPTION_LIMIT_EXCEEDED",
  "STREAM_OVERFLOW",
  "RATE_LIMITED",
  "QUERY_LIMIT_EXCEEDED",
  "INTROSPECTION_DISABLED",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_ONLY",
  "PERSISTED_QUERY_ID_REQUIRED",
  "INTERNAL_SERVER_ERROR",
  "SHUTTING_DOWN",
]);

/**
 * An error's code as a metric label: a documented code as is, another code as `OTHER` (labels stay bounded),
 * and no code at all as `INTERNAL_SERVER_ERROR` (an unexpected error, masked for the client).
 */
export function errorCodeLabel(error: unknown): string {
  const code = error instanceof GraphQLError ? error.extensions?.code : undefined;
  if (typeof code !== "string") return "INTERNAL_SERVER_ERROR";
  return DOCUMENTED_CODES.has(code) ? code : "OTHER";
}
