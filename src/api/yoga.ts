import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import type { GraphQLError } from "graphql";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { createYoga } from "graphql-yoga";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { RateLimits } from "../security/rate-limits.ts";
import type { RevocationFeed } from "../security/revocations.ts";
import type { AppServices } from "../services/app-services.ts";
import type { GraphQLContext } from "./context.ts";
import type { TrustedDocuments } from "./persisted-documents.ts";
import { useDisableIntrospection } from "./plugins/use-disable-introspection.ts";
import { useErrorCodes } from "./plugins/use-error-codes.ts";
import { useGraphQLMetrics } from "./plugins/use-graphql-metrics.ts";
import { useOperationLog } from "./plugins/use-operation-log.ts";
import { useQueryCost } from "./plugins/use-query-cost.ts";
import { useRateLimits } from "./plugins/use-rate-limits.ts";
import { useRequestId } from "./plugins/use-request-id.ts";
import { useStrictRequests } from "./plugins/use-strict-requests.ts";
import { useStreamMetrics } from "./plugins/use-stream-metrics.ts";
import { useSubscriptionLimits } from "./plugins/use-subscription-limits.ts";
import { useCredentialLifetime } from "./plugins/use-credential-lifetime.ts";
import { API_KEY_HEADER, apiKeysPerRequest, isApiKeyRequest, useViewer } from "./plugins/use-viewer.ts";
import { schema } from "./schema/index.ts";

export interface YogaDependencies {
  prisma: PrismaClient;
  services: AppServices;
  revocations: RevocationFeed;
  rateLimits: RateLimits;
  trustedProxyHops: number;
  metrics: Metrics;
  logger: Logger;
  graphiql: boolean;
  allowedOrigins: string[];
  maxRequestBodyBytes: number;
  /** Unexpected errors show their original message (development/test only). */
  exposeErrorDetails: boolean;
  limits: { maxDepth: number; maxAliases: number; maxCost: number; maxTokens: number; maxDirectives: number };
  /** Subscriptions held at once on this instance (SUBSCRIPTION_LIMIT_EXCEEDED beyond). */
  subscriptions: { maxPerUser: number; maxPerConnection: number; maxSseStreamsPerUser: number };
  /** `__schema` / `__type` allowed; off refuses them with INTROSPECTION_DISABLED. */
  introspection: boolean;
  /** "Did you mean …?" in validation errors; where introspection is off, only for requests with an API key. */
  fieldSuggestions: boolean;
  /** The manifest and PERSISTED_DOCUMENTS_ONLY; the same object serves graphql-ws. */
  trustedDocuments: TrustedDocuments;
}

/** Send on GET requests (any value). Apollo Client's own preflight headers are accepted too. */
export const CSRF_HEADER = "x-graphql-yoga-csrf";
const APOLLO_CSRF_HEADERS = ["apollo-require-preflight", "x-apollo-operation-name"];

export function createYogaServer(deps: YogaDependencies) {
  // One key lookup per request, whichever of the plugins below asks first.
  const apiKeys = apiKeysPerRequest(deps.services.apiKeys);
  const apiKeyRequest = isApiKeyRequest(apiKeys);
  return createYoga<object, GraphQLContext>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    logging: deps.logger,
    // GraphiQL subscribes over SSE: Yoga's GraphiQL sends neither its Headers tab nor any connectionParams over
    // a WebSocket (seen in Chromium: `connection_init` with `{}`), so an authenticated subscription is impossible
    // there. Over SSE the Authorization header goes with the request. Apps use graphql-ws (docs/clients.md).
    graphiql: deps.graphiql && {
      subscriptionsProtocol: "SSE",
      title: "Agent GraphQL API",
      additionalHeaders: { [CSRF_HEADER]: "graphiql" },
    },
    // Yoga's default GraphiQL page loads its code from a CDN; this one is self-contained, so it works offline.
    renderGraphiQL,
    maxRequestBodySize: deps.maxRequestBodyBytes,
    batching: false,
    // The GraphQL-over-HTTP persisted documents draft names the document by `documentId` (see persisted-documents.ts).
    extraParamNames: ["documentId"],
    // Bearer tokens, never cookies: credentials stay off, so even "*" cannot leak a session.
    cors: deps.allowedOrigins.length > 0 && {
      origin: deps.allowedOrigins.includes("*") ? "*" : deps.allowedOrigins,
      credentials: false,
      methods: ["GET", "POST"],
      allowedHeaders: [
        "authorization",
        API_KEY_HEADER,
        "content-type",
        "x-request-id",
        CSRF_HEADER,
        ...APOLLO_CSRF_HEADERS,
      ],
      // Browsers hide response headers from scripts unless listed; clients quote these in bug reports and pacing.
      exposedHeaders: ["x-request-id", "retry-after"],
    },
    maskedErrors: { isDev: deps.exposeErrorDetails },
    context: () => ({ prisma: deps.prisma, services: deps.services }) as GraphQLContext,
    plugins: [
      // GET and form-encoded POSTs skip the browser's CORS preflight; requiring a custom header closes that gap.
      useCSRFPrevention({ requestHeaders: [CSRF_HEADER, ...APOLLO_CSRF_HEADERS] }),
      useStrictRequests(),
      // Before anything parses: a refused document is never parsed, validated or run. Its hook runs before the context
      // (and so useViewer) exists, so the gate verifies the API key itself: a key that is merely present, or invalid,
      // unlocks nothing (useViewer then refuses the request as UNAUTHENTICATED anyway).
      deps.trustedDocuments.plugin(apiKeyRequest),
      useViewer({ logins: deps.services.logins, apiKeys }),
      useCredentialLifetime({ revocations: deps.revocations }),
      useErrorCodes(),
      // After useErrorCodes (coded errors are not unexpected), before the limits (their refusals get an id too).
      useRequestId({ logger: deps.logger, exposeErrorDetails: deps.exposeErrorDetails }),
      // After the two above (errors are counted and logged with their final codes), before every plugin that may
      // refuse an operation (its after-hooks still see refusals: RATE_LIMITED, QUERY_LIMIT_EXCEEDED).
      useGraphQLMetrics({ registry: deps.metrics.registry }),
      useStreamMetrics({ metrics: deps.metrics }),
      useOperationLog({ logger: deps.logger }),
      // After useCredentialLifetime (its stream wrapper must be the outermost, see the plugin), before the rate
      // limits and the cost, so a subscription refused here takes nothing from them.
      useSubscriptionLimits({ ...deps.subscriptions, trustedProxyHops: deps.trustedProxyHops }),
      useRateLimits({ limits: deps.rateLimits, trustedProxyHops: deps.trustedProxyHops }),
      useQueryCost({ limits: deps.rateLimits, maxCost: deps.limits.maxCost, trustedProxyHops: deps.trustedProxyHops }),
      EnvelopArmorPlugin({
        maxDepth: { n: deps.limits.maxDepth, onReject: [rejectedBy("depth")] },
        maxAliases: { n: deps.limits.maxAliases, onReject: [rejectedBy("aliases")] },
        // Cost is useQueryCost's (list sizes and variables count there); armor enables every check unless told.
        costLimit: { enabled: false },
        maxTokens: { n: deps.limits.maxTokens, onReject: [rejectedBy("tokens")] },
        maxDirectives: { n: deps.limits.maxDirectives, onReject: [rejectedBy("directives")] },
        // Off here, hidden for everyone; on, they are hidden where introspection is refused by useDisableIntrospection
        // (suggestions spell out field names: without introspection they would be a way around it).
        blockFieldSuggestion: { enabled: !deps.fieldSuggestions },
      }),
      ...(deps.introspection
        ? []
        : [useDisableIntrospection({ isApiKeyRequest: apiKeyRequest, fieldSuggestions: deps.fieldSuggestions })]),
    ],
  });
}

export type YogaServer = ReturnType<typeof createYogaServer>;

/** Armor's rejections carry no code; give them one clients can branch on, naming the limit hit. */
function rejectedBy(limit: "depth" | "aliases" | "tokens" | "directives") {
  return (_context: unknown, error: GraphQLError) => {
    Object.assign(error.extensions, { code: "QUERY_LIMIT_EXCEEDED", limit });
  };
}
