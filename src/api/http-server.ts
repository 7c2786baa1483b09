import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { withLogContext } from "../observability/log-context.ts";
import type { YogaServer } from "./yoga.ts";

export interface HttpServerOptions {
  /** Served on GET /metrics (Prometheus text). */
  registry: Registry;
  /** Set: /metrics answers only `Authorization: Bearer <metricsToken>` (401 otherwise). */
  metricsToken?: string;
  /**
   * Without `metricsToken`: /metrics open to anyone (development/test), or refused with 403 (staging/production:
   * metrics name users' activity and the deployment's internals).
   * @default false
   */
  metricsOpenWithoutToken?: boolean;
  /** The dependencies /ready checks, each `"ok"` or why not (see readiness.ts). */
  readiness: () => Promise<{ ready: boolean; checks: Record<string, string> }>;
  /** True once shutdown began: /ready answers 503 and new work is refused with 503. */
  isDraining: () => boolean;
}

/** How long a client should wait before retrying elsewhere while this instance drains. */
const RETRY_AFTER_SECONDS = "5";

/**
 * One HTTP server: /graphql (Yoga: POST, GET, SSE, GraphiQL), /health (liveness), /ready (readiness) and /metrics.
 * Every request runs in its own log context, so log lines written while serving it carry its ids.
 */
export function createHttpServer(yoga: YogaServer, options: HttpServerOptions): Server {
  const { registry, metricsToken, metricsOpenWithoutToken = false, readiness, isDraining } = options;
  const metricsAllowed = metricsToken ? bearerCheck(metricsToken) : () => true;
  return createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health") {
      // Alive, even while draining: a liveness probe must not get a draining instance killed early.
      json(res, 200, isDraining() ? { status: "ok", draining: true } : { status: "ok" });
      return;
    }
    if (path === "/ready") {
      if (isDraining()) {
        json(res, 503, { status: "draining" });
        return;
      }
      readiness().then(
        ({ ready, checks }) => json(res, ready ? 200 : 503, { status: ready ? "ready" : "unavailable", checks }),
        () => json(res, 503, { status: "unavailable" }),
      );
      return;
    }
    if (path === "/metrics" && req.method === "GET") {
      if (!metricsToken && !metricsOpenWithoutToken) {
        // No token can open it: say so to the operator, who sees the same advice in the startup warning.
        res.writeHead(403, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
        res.end("/metrics is off: set METRICS_TOKEN and scrape with Authorization: Bearer <token>\n");
        return;
      }
      if (!metricsAllowed(req)) {
        res.writeHead(401, { "www-authenticate": 'Bearer realm="metrics"', "cache-control": "no-store" }).end();
        return;
      }
      registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": registry.contentType, "cache-control": "no-store" }).end(body),
        () => res.writeHead(500).end(),
      );
      return;
    }
    if (isDraining()) {
      // New work goes to another instance; requests already running on kept-alive connections finish.
      res.writeHead(503, {
        "content-type": "application/json; charset=utf-8",
        "retry-after": RETRY_AFTER_SECONDS,
        connection: "close",
      });
      res.end(
        JSON.stringify({
          errors: [{ message: "The server is shutting down; retry shortly.", extensions: { code: "SHUTTING_DOWN" } }],
        }),
      );
      return;
    }
    withLogContext({}, () => void yoga(req, res));
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
    .end(JSON.stringify(body));
}

/** Compares digests, so neither the token's length nor its content leaks through timing. */
function bearerCheck(token: string): (req: IncomingMessage) => boolean {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  const expected = digest(`Bearer ${token}`);
  return (req) => timingSafeEqual(digest(req.headers.authorization ?? ""), expected);
}
