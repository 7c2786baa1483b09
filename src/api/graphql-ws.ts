// graphql-ws (`graphql-transport-ws`) on the same path as HTTP, through the same envelop pipeline as HTTP,
// so authentication, armor limits, masking and metrics apply to WebSocket operations too. The sockets
// themselves are bounded here: frame size, connections per address and in all, and how long a socket may stay
// unauthenticated or idle.
import type { Server } from "node:http";
import { GraphQLError, type ExecutionArgs } from "graphql";
import { CloseCode, type Context, type OperationResult } from "graphql-ws";
import { useServer, type Extra } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";
import { withLogContext } from "../observability/log-context.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { RevocationFeed } from "../security/revocations.ts";
import type { Viewer } from "../security/viewer.ts";
import { clientIp } from "./plugins/use-rate-limits.ts";
import type { TrustedDocuments } from "./persisted-documents.ts";
import {
  authenticate,
  credentialsFromConnectionParams,
  isValidApiKey,
  type Authenticators,
} from "./plugins/use-viewer.ts";
import type { YogaServer } from "./yoga.ts";

interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

type WsContext = Context<Record<string, unknown> | undefined, Extra>;

/** setTimeout's ceiling (~24.8 days); a connection on a longer-lived token is closed then, and reconnects. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface GraphQLWsDependencies {
  metrics: Metrics;
  logins: Authenticators["logins"];
  /** `connectionParams.apiKey` authenticates a connection as the key's owner, like `x-api-key` over HTTP. */
  apiKeys: Authenticators["apiKeys"];
  revocations: RevocationFeed;
  /** Subscribe payloads name a trusted document by hash, with the same rules as HTTP (persisted-documents.ts). */
  trustedDocuments: TrustedDocuments;
  /** While true (the server is shutting down) new connections are refused with HTTP 503. */
  isDraining?: () => boolean;
  /**
   * Largest WebSocket message accepted (ws `maxPayload`, whose own default is 100 MiB); a larger one closes the
   * socket with 1009. The app passes MAX_REQUEST_BODY_BYTES, so a WebSocket operation is bounded like an HTTP body.
   * @default 1_000_000
   */
  maxPayloadBytes?: number;
  /** A socket that sends no `connection_init` within this is closed with 4408 (graphql-ws). @default 3000 */
  connectionInitTimeoutMs?: number;
  /** A socket whose `connection_init` carried no valid token is closed with CLOSE_NOT_AUTHENTICATED after this. @default 30000 */
  anonymousTimeoutMs?: number;
  /** A socket with no subscription running and no operation sent for this long is closed with CLOSE_IDLE. @default 300000 */
  idleTimeoutMs?: number;
  /** Open connections per client address; beyond, the upgrade is refused with 429 and Retry-After. @default 100 */
  maxConnectionsPerAddress?: number;
  /** Open connections on this instance; beyond, the upgrade is refused with 503 and Retry-After. @default 20000 */
  maxConnections?: number;
  /** Proxies whose `X-Forwarded-For` entries are trusted, as for the rate limits. @default 0 */
  trustedProxyHops?: number;
}

/** Close codes a client sees when its credentials end; both mean "refresh the token, then reconnect". */
export const CLOSE_TOKEN_EXPIRED = { code: CloseCode.Unauthorized, reason: "Access token expired" } as const;
export const CLOSE_TOKEN_REVOKED = { code: CloseCode.Unauthorized, reason: "Access token revoked" } as const;
/** An anonymous socket (no valid token in `connection_init`) after `anonymousTimeoutMs`: sign in, then reconnect. */
export const CLOSE_NOT_AUTHENTICATED = { code: CloseCode.Unauthorized, reason: "Authentication required" } as const;
/** Nothing running, nothing sent for `idleTimeoutMs`: a normal closure; graphql-ws clients reconnect when next needed. */
export const CLOSE_IDLE = { code: 1000, reason: "Idle timeout" } as const;

/** Seconds a refused upgrade is told to wait: its own connections must end first (429), or go elsewhere (503). */
const RETRY_AFTER_PER_ADDRESS = "30";
const RETRY_AFTER_UNAVAILABLE = "5";

export function attachGraphQLWs(
  httpServer: Server,
  yoga: YogaServer,
  {
    metrics,
    logins,
    apiKeys,
    revocations,
    trustedDocuments,
    isDraining = () => false,
    maxPayloadBytes = 1_000_000,
    connectionInitTimeoutMs = 3_000,
    anonymousTimeoutMs = 30_000,
    idleTimeoutMs = 300_000,
    maxConnectionsPerAddress = 100,
    maxConnections = 20_000,
    trustedProxyHops = 0,
  }: GraphQLWsDependencies,
) {
  const connections = new ConnectionCounts();
  const wsServer = new WebSocketServer({
    server: httpServer,
    path: yoga.graphqlEndpoint,
    maxPayload: maxPayloadBytes,
    // Refused before the handshake, so a refused client holds nothing: no socket, no graphql-ws context.
    verifyClient: ({ req }, accept) => {
      // A client reconnecting during a drain is sent elsewhere (by its load balancer) instead of being accepted
      // here and closed with 1001 moments later.
      if (isDraining()) return accept(false, 503, "Server shutting down", { "Retry-After": RETRY_AFTER_UNAVAILABLE });
      if (connections.total >= maxConnections) {
        return accept(false, 503, "Too many connections", { "Retry-After": RETRY_AFTER_UNAVAILABLE });
      }
      const address = clientIp(req, trustedProxyHops);
      if (connections.of(address) >= maxConnectionsPerAddress) {
        return accept(false, 429, "Too many connections from this address", { "Retry-After": RETRY_AFTER_PER_ADDRESS });
      }
      // Counted from here until the TCP socket closes, whichever way (refused later in the handshake, closed by
      // either side, terminated), so the counts cannot drift.
      connections.open(address);
      req.socket.once("close", () => connections.close(address));
      return accept(true);
    },
  });
  wsServer.on("connection", (socket) => {
    metrics.wsConnections.inc();
    socket.once("close", () => metrics.wsConnections.dec());
  });
  // Per graphql-ws context (one per socket): the anonymous or idle deadline, cleared when the socket closes.
  const deadlines = new WeakMap<object, NodeJS.Timeout>();
  const clearDeadline = (ctx: object) => clearTimeout(deadlines.get(ctx));
  const closeIfStillAnonymous = (ctx: WsContext) => {
    clearDeadline(ctx);
    const close = () => ctx.extra.socket.close(CLOSE_NOT_AUTHENTICATED.code, CLOSE_NOT_AUTHENTICATED.reason);
    deadlines.set(ctx, setTimeout(close, anonymousTimeoutMs).unref());
  };
  // Re-armed by every operation sent and every operation ending; while one runs, idleness is not counted.
  const closeWhenIdle = (ctx: WsContext) => {
    clearDeadline(ctx);
    const check = () => {
      if (Object.keys(ctx.subscriptions).length > 0) deadlines.set(ctx, setTimeout(check, idleTimeoutMs).unref());
      else ctx.extra.socket.close(CLOSE_IDLE.code, CLOSE_IDLE.reason);
    };
    deadlines.set(ctx, setTimeout(check, idleTimeoutMs).unref());
  };
  const authenticated = new WeakSet<object>();
  const expiryTimers = new WeakMap<object, NodeJS.Timeout>();
  /** Open sockets by the credential (login or API key) that authenticated them, to close them when it is revoked. */
  const socketsByCredential = new Map<string, Set<{ close(code: number, reason: string): void }>>();
  const stopListening = revocations.subscribe((credentialId) => {
    for (const socket of socketsByCredential.get(credentialId) ?? [])
      socket.close(CLOSE_TOKEN_REVOKED.code, CLOSE_TOKEN_REVOKED.reason);
  });
  const credentialOf = new WeakMap<object, string>();
  /** Whether this connection's `connection_init` carries an API key that verifies now (it may send query text). */
  const byApiKey = (ctx: WsContext): Promise<boolean> =>
    isValidApiKey(ctx.connectionParams ? credentialsFromConnectionParams(ctx.connectionParams) : undefined, apiKeys);
  const disposable = useServer(
    {
      // Log lines of the operation carry its request id and user (the HTTP server does this per request).
      execute: (args) => withOperationLogContext(args, () => (args.rootValue as EnvelopedRoot).execute(args)),
      subscribe: (args) => withOperationLogContext(args, () => (args.rootValue as EnvelopedRoot).subscribe(args)),
      connectionInitWaitTimeout: connectionInitTimeoutMs,
      onConnect: async (ctx) => {
        // A connection authenticated by a token lives no longer than the token: at expiry or revocation it is
        // closed with 4401 so the client refreshes and reconnects. A bad token is refused per operation, and the
        // socket is closed as anonymous after anonymousTimeoutMs (anonymous sockets are for login/register).
        const credentials = ctx.connectionParams ? credentialsFromConnectionParams(ctx.connectionParams) : undefined;
        const viewer = credentials
          ? await authenticate(credentials, { logins, apiKeys }).catch(() => undefined)
          : undefined;
        // Closed while the token was checked: onClose has run, so nothing may be registered for it now.
        if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) return false;
        if (!viewer) closeIfStillAnonymous(ctx);
        else {
          authenticated.add(ctx);
          closeWhenIdle(ctx);
          const { socket } = ctx.extra;
          const closeAtExpiry = () => socket.close(CLOSE_TOKEN_EXPIRED.code, CLOSE_TOKEN_EXPIRED.reason);
          const timer = setTimeout(closeAtExpiry, Math.min(viewer.expiresAt.getTime() - Date.now(), MAX_TIMER_MS));
          expiryTimers.set(ctx, timer.unref());
          credentialOf.set(ctx, viewer.credentialId);
          const sockets = socketsByCredential.get(viewer.credentialId) ?? new Set();
          socketsByCredential.set(viewer.credentialId, sockets.add(socket));
        }
        return true;
      },
      onComplete: (ctx) => {
        if (authenticated.has(ctx)) closeWhenIdle(ctx);
      },
      onClose: (ctx) => {
        clearDeadline(ctx);
        clearTimeout(expiryTimers.get(ctx));
        const credentialId = credentialOf.get(ctx);
        const sockets = credentialId ? socketsByCredential.get(credentialId) : undefined;
        sockets?.delete(ctx.extra.socket);
        if (credentialId && sockets?.size === 0) socketsByCredential.delete(credentialId);
      },
      onSubscribe: async (ctx, _id, payload) => {
        if (authenticated.has(ctx)) closeWhenIdle(ctx);
        // The trusted-documents rules throw before anything parses, armor throws from parse/validate and auth throws
        // from the context factory: all become operation errors for this subscription instead of closing the socket.
        try {
          const query = await trustedDocuments.resolve(payload, () => byApiKey(ctx));
          const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
            ...ctx,
            req: ctx.extra.request,
            socket: ctx.extra.socket,
            params: { ...payload, query },
          });
          const args: ExecutionArgs = {
            schema,
            operationName: payload.operationName,
            document: parse(query),
            variableValues: payload.variables,
            contextValue: await contextFactory(),
            rootValue: { execute, subscribe } as EnvelopedRoot,
          };
          const errors = validate(args.schema, args.document);
          if (errors.length > 0) return errors;
          return args;
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
      },
    },
    wsServer,
  );
  return {
    async close(): Promise<void> {
      stopListening();
      for (const client of wsServer.clients) client.close(1001, "Server shutting down");
      await disposable.dispose();
    },
  };
}

/** Open connections per client address and in all; an address with none is forgotten. */
class ConnectionCounts {
  total = 0;
  private readonly perAddress = new Map<string, number>();

  of(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  open(address: string): void {
    this.total += 1;
    this.perAddress.set(address, this.of(address) + 1);
  }

  close(address: string): void {
    this.total -= 1;
    const count = this.of(address) - 1;
    if (count > 0) this.perAddress.set(address, count);
    else this.perAddress.delete(address);
  }
}

function withOperationLogContext<T>(args: ExecutionArgs, fn: () => T): T {
  const context = args.contextValue as { requestId?: string; viewer?: Viewer | null };
  return withLogContext({ requestId: context.requestId, userId: context.viewer?.userId }, fn);
}
