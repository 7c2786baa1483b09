// The app on a port: the HTTP server (http-server.ts) with graphql-ws on the same path (graphql-ws.ts), and how the
// two close. Tests that need no socket skip this and call `yoga.fetch`.
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { attachGraphQLWs, type GraphQLWsDependencies } from "./graphql-ws.ts";
import { withDeadline } from "../observability/deadline.ts";
import { createHttpServer, type HttpServerOptions } from "./http-server.ts";
import type { YogaServer } from "./yoga.ts";

/** Connections waiting to be accepted (a burst of clients connecting at once). */
const LISTEN_BACKLOG = 4096;

/** Requests still running when the server closes get this long; SSE streams never end by themselves. */
const REQUEST_FINISH_MS = 1_000;

export interface ListenOptions {
  port: number;
  host?: string;
  http: HttpServerOptions;
  ws: GraphQLWsDependencies;
}

export interface Listener {
  /** e.g. http://localhost:4000 */
  url: string;
  /** WebSockets close with 1001, running requests get a moment, then every connection closes. */
  close(): Promise<void>;
}

export async function listen(yoga: YogaServer, { port, host, http, ws }: ListenOptions): Promise<Listener> {
  const httpServer = createHttpServer(yoga, http);
  const graphqlWs = attachGraphQLWs(httpServer, yoga, ws);
  // Node's default backlog (511) drops the connections of a burst beyond it, whose clients then retry their SYN
  // with backoff (1, 2, 4… s) and can wait a minute before the server even sees the request; the kernel caps this
  // at net.core.somaxconn.
  httpServer.listen({ port, host, backlog: LISTEN_BACKLOG });
  await once(httpServer, "listening");
  const address = httpServer.address() as AddressInfo;
  return {
    url: `http://localhost:${address.port}`,
    async close() {
      await graphqlWs.close(); // 1001 "Server shutting down"
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await withDeadline(closed, REQUEST_FINISH_MS, () => undefined);
      httpServer.closeAllConnections();
      await closed;
    },
  };
}
