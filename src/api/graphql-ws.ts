// graphql-ws (`graphql-transport-ws`) on the same path as HTTP, through the same envelop pipeline as HTTP,
// so authentication, armor limits, masking and metrics apply to WebSocket operations too.
import type { Server } from "node:http";
import { GraphQLError, type ExecutionArgs } from "graphql";
import { CloseCode, type OperationResult } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";
import type { Metrics } from "../observability/metrics.ts";
import type { TokenService } from "../security/tokens.ts";
import { authorizationFromConnectionParams } from "./plugins/use-viewer.ts";
import type { YogaServer } from "./yoga.ts";

interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

/** setTimeout's ceiling (~24.8 days); a connection on a longer-lived token is closed then, and reconnects. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function attachGraphQLWs(httpServer: Server, yoga: YogaServer, metrics: Metrics, tokens: TokenService) {
  const wsServer = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint });
  const expiryTimers = new WeakMap<object, NodeJS.Timeout>();
  const disposable = useServer(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onConnect: async (ctx) => {
        metrics.wsConnections.inc();
        // A connection authenticated by a token lives no longer than the token: at expiry it is closed with
        // 4401 so the client reconnects with a fresh one. (A bad token is refused per operation instead.)
        const header = ctx.connectionParams ? authorizationFromConnectionParams(ctx.connectionParams) : undefined;
        const claims = header ? await tokens.verifyBearer(header).catch(() => undefined) : undefined;
        if (claims) {
          const closeAtExpiry = () => ctx.extra.socket.close(CloseCode.Unauthorized, "Access token expired");
          const timer = setTimeout(closeAtExpiry, Math.min(claims.expiresAt.getTime() - Date.now(), MAX_TIMER_MS));
          expiryTimers.set(ctx, timer.unref());
        }
        return true;
      },
      onClose: (ctx) => {
        metrics.wsConnections.dec();
        clearTimeout(expiryTimers.get(ctx));
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
      for (const client of wsServer.clients) client.close(1001, "Server shutting down");
      await disposable.dispose();
    },
  };
}
