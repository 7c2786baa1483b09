import type { IncomingMessage } from "node:http";
import { getOperationAST, GraphQLError, Kind, type DocumentNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import { RateLimitedError, type RateLimitBucket, type RateLimits } from "../../security/rate-limits.ts";
import type { Viewer } from "../../security/viewer.ts";

export interface RateLimitPluginOptions {
  limits: RateLimits;
  /**
   * Proxies in front of the server whose `X-Forwarded-For` entries are trusted; 0 uses the socket address.
   * @default 0
   */
  trustedProxyHops?: number;
}

export interface LimitedContext {
  req?: IncomingMessage;
  viewer?: Viewer | null;
}

/** Root fields that cost more than a read, and the bucket that pays for them. */
const EXPENSIVE_FIELDS: Record<string, RateLimitBucket> = { login: "auth", register: "auth", sendMessage: "send" };

/**
 * login and register spend the client IP's `auth` budget, sendMessage the viewer's `send` budget (every
 * operation's query cost is paid by useQueryCost). Same rules on HTTP, SSE and graphql-ws, because all three
 * run this pipeline.
 */
export function useRateLimits({ limits, trustedProxyHops = 0 }: RateLimitPluginOptions): Plugin<LimitedContext> {
  const check = async (document: DocumentNode, operationName: string | null | undefined, context: LimitedContext) => {
    try {
      for (const bucket of expensiveBuckets(document, operationName)) {
        const key = bucket === "auth" ? `ip:${clientIp(context.req, trustedProxyHops)}` : callerKey(context, trustedProxyHops);
        await limits.consume(bucket, key);
      }
      return undefined;
    } catch (error) {
      if (!(error instanceof RateLimitedError)) throw error;
      return new GraphQLError(error.message, { extensions: rateLimitedExtensions(error) });
    }
  };
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const refusal = await check(args.document, args.operationName, args.contextValue as LimitedContext);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const refusal = await check(args.document, args.operationName, args.contextValue as LimitedContext);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
  };
}

/** What every RATE_LIMITED error carries; `http` becomes the 429 status and Retry-After header over HTTP. */
export function rateLimitedExtensions(error: RateLimitedError) {
  return {
    code: "RATE_LIMITED",
    retryAfter: error.retryAfterSeconds,
    bucket: error.bucket,
    http: { status: 429, headers: { "Retry-After": String(error.retryAfterSeconds) } },
  };
}

function expensiveBuckets(document: DocumentNode, operationName: string | null | undefined): Set<RateLimitBucket> {
  const buckets = new Set<RateLimitBucket>();
  for (const selection of getOperationAST(document, operationName)?.selectionSet.selections ?? []) {
    const bucket = selection.kind === Kind.FIELD ? EXPENSIVE_FIELDS[selection.name.value] : undefined;
    if (bucket) buckets.add(bucket);
  }
  return buckets;
}

/** Whose allowance an operation spends: the signed-in user's, or the client address's when anonymous. */
export function callerKey(context: LimitedContext, trustedProxyHops: number): string {
  return context.viewer ? `user:${context.viewer.userId}` : `ip:${clientIp(context.req, trustedProxyHops)}`;
}

function clientIp(req: IncomingMessage | undefined, trustedProxyHops: number): string {
  const socketAddress = req?.socket?.remoteAddress ?? "unknown";
  if (trustedProxyHops === 0) return socketAddress;
  const forwarded = String(req?.headers["x-forwarded-for"] ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  // Each trusted proxy appends the address it saw; the entry written by the outermost trusted one is the client.
  return forwarded[forwarded.length - trustedProxyHops] ?? socketAddress;
}
