import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** One registry per app instance (tests run several in one process). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    replies: new Counter({
      name: "agent_replies_total",
      help: "Agent replies by final status",
      labelNames: ["status"] as const,
      registers: [registry],
    }),
    replyDuration: new Histogram({
      name: "agent_reply_duration_seconds",
      help: "Time from start to end of an agent reply",
      labelNames: ["status"] as const,
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
      registers: [registry],
    }),
    timeToFirstToken: new Histogram({
      name: "agent_time_to_first_token_seconds",
      help: "Time from start of an agent reply to its first streamed token",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [registry],
    }),
    activeReplies: new Gauge({ name: "agent_active_replies", help: "Replies being generated now", registers: [registry] }),
    wsConnections: new Gauge({ name: "graphql_ws_connections", help: "Open graphql-ws connections", registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
