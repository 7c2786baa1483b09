// graphql-ws (`graphql-transport-ws`) on the same path as HTTP, through the same envelop pipeline as HTTP,
// so authentication, armor limits, masking and metrics apply to WebSocket operations too.
import type { Server } from "node:http";
import { GraphQLError, type ExecutionArgs } from "graphql";
import { CloseCode, type OperationResult } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";
import { withLogContext } from "../observability/log-context.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { RevocationFeed } from "../security/revocations.ts";
import type { Viewer } from "../security/viewer.ts";
import { authorizationFromConnectionParams } from "./plugins/use-viewer.ts";
import type { YogaServer } from "./yoga.ts";

interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

/** setTimeout's ceiling (~24.8 days); a connection on a longer-lived token is closed then, and reconnects. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface GraphQLWsDependencies {
  metrics: Metrics;
  logins: { authenticate(authorization: string): Promise<Viewer> };
  revocations: RevocationFeed;
  /** While true (the server is shutting down) new connections are refused with HTTP 503. */
  isDraining?: () => boolean;
}

/** Close codes a client sees when its credentials end; both mean "refresh the token, then reconnect". */
export const CLOSE_TOKEN_EXPIRED = { code: CloseCode.Unauthorized, reason: "Access token expired" } as const;
export const CLOSE_TOKEN_REVOKED = { code: CloseCode.Unauthorized, reason: "Access token revoked" } as const;

export function attachGraphQLWs(
  httpServer: Server,
  yoga: YogaServer,
  { metrics, logins, revocations, isDraining = () => false }: GraphQLWsDependencies,
) {
  const wsServer = new WebSocketServer({
    server: httpServer,
    path: yoga.graphqlEndpoint,
    // A client reconnecting during a drain is sent elsewhere (by its load balancer) instead of being accepted
    // here and closed with 1001 moments later.
    verifyClient: (_info, accept) => (isDraining() ? accept(false, 503, "Server shutting down", { "Retry-After": "5" }) : accept(true)),
  });
  const expiryTimers = new WeakMap<object, NodeJS.Timeout>();
  const socketsByLogin = new Map<string, Set<{ close(code: number, reason: string): void }>>();
  const stopListening = revocations.subscribe((loginId) => {
    for (const socket of socketsByLogin.get(loginId) ?? []) socket.close(CLOSE_TOKEN_REVOKED.code, CLOSE_TOKEN_REVOKED.reason);
  });
  const loginOf = new WeakMap<object, string>();
  const disposable = useServer(
    {
      // Log lines of the operation carry its request id and user (the HTTP server does this per request).
      execute: (args) => withOperationLogContext(args, () => (args.rootValue as EnvelopedRoot).execute(args)),
      subscribe: (args) => withOperationLogContext(args, () => (args.rootValue as EnvelopedRoot).subscribe(args)),
      onConnect: async (ctx) => {
        metrics.wsConnections.inc();
        // A connection authenticated by a token lives no longer than the token: at expiry or revocation it is
        // closed with 4401 so the client refreshes and reconnects. (A bad token is refused per operation instead.)
        const header = ctx.connectionParams ? authorizationFromConnectionParams(ctx.connectionParams) : undefined;
        const viewer = header ? await logins.authenticate(header).catch(() => undefined) : undefined;
        if (viewer) {
          const { socket } = ctx.extra;
          const closeAtExpiry = () => socket.close(CLOSE_TOKEN_EXPIRED.code, CLOSE_TOKEN_EXPIRED.reason);
          const timer = setTimeout(closeAtExpiry, Math.min(viewer.expiresAt.getTime() - Date.now(), MAX_TIMER_MS));
          expiryTimers.set(ctx, timer.unref());
          loginOf.set(ctx, viewer.loginId);
          const sockets = socketsByLogin.get(viewer.loginId) ?? new Set();
          socketsByLogin.set(viewer.loginId, sockets.add(socket));
        }
        return true;
      },
      onClose: (ctx) => {
        metrics.wsConnections.dec();
        clearTimeout(expiryTimers.get(ctx));
        const loginId = loginOf.get(ctx);
        const sockets = loginId ? socketsByLogin.get(loginId) : undefined;
        sockets?.delete(ctx.extra.socket);
        if (loginId && sockets?.size === 0) socketsByLogin.delete(loginId);
      },
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
        });
        // Armor throws from parse/validate and auth throws from the context factory: both become
        // operation errors for this subscription instead of closing the whole socket.
        try {
          const args: ExecutionArgs = {
            schema,
            operationName: payload.operationName,
            document: parse(payload.query),
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

function withOperationLogContext<T>(args: ExecutionArgs, fn: () => T): T {
  const context = args.contextValue as { requestId?: string; viewer?: Viewer | null };
  return withLogContext({ requestId: context.requestId, userId: context.viewer?.userId }, fn);
}
