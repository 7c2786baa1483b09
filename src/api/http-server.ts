import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import type { YogaServer } from "./yoga.ts";

/** One HTTP server: /graphql (Yoga: POST, GET, SSE, GraphiQL), /health and /metrics. */
export function createHttpServer(yoga: YogaServer, registry: Registry): Server {
  return createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    if (path === "/metrics" && req.method === "GET") {
      registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
      return;
    }
    void yoga(req, res);
  });
}
