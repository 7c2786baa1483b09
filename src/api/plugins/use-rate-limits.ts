import type { IncomingMessage } from "node:http";
import { isIPv6 } from "node:net";
import { GraphQLError, type ExecutionArgs } from "graphql";
import type { Plugin } from "graphql-yoga";
import {
  RateLimitedError,
  type BucketStatus,
  type RateLimitBucket,
  type RateLimits,
} from "../../security/rate-limits.ts";
import type { Viewer } from "../../security/viewer.ts";
import { rootFields } from "../root-fields.ts";

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
  /** The client's address as the limits see it (put into every operation's context by this plugin). */
  clientAddress?: string;
}

/** Root fields (by schema coordinate) that cost more than a read, and the bucket that pays for them. */
const EXPENSIVE_FIELDS: Record<string, RateLimitBucket> = {
  "Mutation.login": "auth",
  "Mutation.register": "auth",
  "Mutation.sendMessage": "send",
};

/**
 * login and register spend the client IP's `auth` budget, sendMessage the viewer's `send` budget: one point per
 * root field execution, counted the way graphql-js collects root fields (fragments, inline fragments, aliases,
 * @skip/@include; see root-fields.ts), so 15 aliased sendMessage cost 15 points. An operation whose points do
 * not all fit is refused as a whole and takes nothing. Every operation's query cost is paid by useQueryCost.
 * An operation authenticated by an API key also takes one point from that key's `apiKey` bucket, and its `send` and
 * `cost` are the key's own (see callerKey): a partner's traffic never eats into its owner's interactive allowance.
 * Same rules on HTTP, SSE and graphql-ws, because all three run this pipeline.
 */
export function useRateLimits({ limits, trustedProxyHops = 0 }: RateLimitPluginOptions): Plugin<LimitedContext> {
  const check = async (args: ExecutionArgs) => {
    const context = args.contextValue as LimitedContext;
    const taken: Array<{ bucket: RateLimitBucket; key: string; points: number; status: BucketStatus }> = [];
    try {
      const apiKeyId = context.viewer?.apiKeyId;
      if (apiKeyId)
        taken.push({
          bucket: "apiKey",
          key: `key:${apiKeyId}`,
          points: 1,
          status: await limits.consume("apiKey", `key:${apiKeyId}`),
        });
      for (const [bucket, points] of expensiveFields(args)) {
        const key =
          bucket === "auth" ? `ip:${clientIp(context.req, trustedProxyHops)}` : callerKey(context, trustedProxyHops);
        taken.push({ bucket, key, points, status: await limits.consume(bucket, key, points) });
      }
      return undefined;
    } catch (error) {
      if (!(error instanceof RateLimitedError)) throw error;
      // Nothing of a refused operation runs, so the buckets it did fit in get their points back.
      for (const { bucket, key, points, status } of taken) await limits.refund(bucket, key, points, status.resetsAt);
      return new GraphQLError(error.message, { extensions: rateLimitedExtensions(error) });
    }
  };
  return {
    onContextBuilding({ context, extendContext }) {
      // Services that limit per address themselves (failed logins) get it from here, found the same way.
      extendContext({ clientAddress: clientIp(context.req, trustedProxyHops) });
    },
    async onExecute({ args, setResultAndStopExecution }) {
      const refusal = await check(args);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const refusal = await check(args);
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

/** Points per bucket: one for each root field execution that bucket pays for. */
function expensiveFields(args: ExecutionArgs): Map<RateLimitBucket, number> {
  const points = new Map<RateLimitBucket, number>();
  const operation = rootFields(args);
  for (const field of operation?.fields ?? []) {
    const bucket = EXPENSIVE_FIELDS[`${operation!.rootType.name}.${field.fieldName}`];
    if (bucket) points.set(bucket, (points.get(bucket) ?? 0) + 1);
  }
  return points;
}

/** Whose allowance an operation spends: the API key's, the signed-in user's, or the client address's when anonymous. */
export function callerKey(context: LimitedContext, trustedProxyHops: number): string {
  if (context.viewer?.apiKeyId) return `key:${context.viewer.apiKeyId}`;
  return context.viewer ? `user:${context.viewer.userId}` : `ip:${clientIp(context.req, trustedProxyHops)}`;
}

/** The client's address: the socket's, or the one the outermost trusted proxy saw (`X-Forwarded-For`). */
export function clientIp(req: IncomingMessage | undefined, trustedProxyHops: number): string {
  const socketAddress = req?.socket?.remoteAddress ?? "unknown";
  if (trustedProxyHops === 0) return clientNetwork(socketAddress);
  const forwarded = String(req?.headers["x-forwarded-for"] ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  // Each trusted proxy appends the address it saw; the entry written by the outermost trusted one is the client.
  return clientNetwork(forwarded[forwarded.length - trustedProxyHops] ?? socketAddress);
}

/**
 * What per-address limits key on: an IPv4 address (also when IPv4-mapped), or an IPv6 address's /64. One
 * subscriber gets a whole /64, so keying on full IPv6 addresses would hand an attacker unlimited fresh addresses.
 */
export function clientNetwork(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const bare = address.split("%")[0]!; // a zone index (fe80::1%eth0) is not part of the address
  if (!isIPv6(bare)) return address;
  const [head = "", tail] = bare.split("::");
  const groups = (text: string) =>
    text ? text.split(":").flatMap((group) => (group.includes(".") ? ["0", "0"] : [group])) : [];
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return `${all
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(":")}::/64`;
}
