// Prometheus metrics of the app (docs/operating.md, "Metrics", lists them). Names are an interface: dashboards and
// alert rules in observability/ use them, and test/observability-files.test.ts checks every one against a scrape.
// Every label has a bounded set of values: model names come from configuration, tools from the registered tool
// list, operation names through `boundedLabel`; nothing user-typed becomes a label value as is.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Seconds; model calls may run up to LLM_TOTAL_DEADLINE_MS (120 s by default). */
const MODEL_CALL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120];
const DB_QUERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export const BREAKER_STATE_VALUE = { closed: 0, "half-open": 1, open: 2 } as const;

/** One registry per app instance (tests run several in one process). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let knownTools = new Set<string>();
  const metrics = {
    registry,

    // --- Agent replies -------------------------------------------------------------------------------------------
    replies: new Counter({
      name: "agent_replies_total",
      help: "Agent replies by final status (COMPLETE, FAILED, INTERRUPTED, CANCELLED)",
      labelNames: ["status"] as const,
      registers,
    }),
    replyFailures: new Counter({
      name: "agent_reply_failures_total",
      help: "Replies that ended with a MessageFailed event, by code (LLM_ERROR, LLM_UNAVAILABLE, INTERRUPTED, QUOTA_EXCEEDED, STORAGE_ERROR)",
      labelNames: ["code"] as const,
      registers,
    }),
    replyDuration: new Histogram({
      name: "agent_reply_duration_seconds",
      help: "Time from start to end of an agent reply",
      labelNames: ["status"] as const,
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
      registers,
    }),
    timeToFirstToken: new Histogram({
      name: "agent_time_to_first_token_seconds",
      help: "Time from start of an agent reply to its first streamed token",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
    activeReplies: new Gauge({ name: "agent_active_replies", help: "Replies being generated now", registers }),
    repliesWaiting: new Gauge({
      name: "agent_replies_waiting",
      help: "Replies waiting for a run slot (REPLIES_MAX_RUNNING are busy); beyond REPLIES_MAX_QUEUED sends are OVERLOADED",
      registers,
    }),

    // --- Model calls (ResilientChatModel's observer) ------------------------------------------------------------
    modelCallDuration: new Histogram({
      name: "agent_model_call_duration_seconds",
      help: "One attempt of a model call (request to end of its stream), by model and outcome",
      labelNames: ["model", "outcome"] as const,
      buckets: MODEL_CALL_BUCKETS,
      registers,
    }),
    modelRetries: new Counter({
      name: "agent_model_retries_total",
      help: "Model call attempts retried on the same model after a retryable failure",
      labelNames: ["model"] as const,
      registers,
    }),
    modelFallbacks: new Counter({
      name: "agent_model_fallbacks_total",
      help: "Model calls that moved on from one model to the next in the fallback chain",
      labelNames: ["from", "to"] as const,
      registers,
    }),
    breakerState: new Gauge({
      name: "agent_model_breaker_state",
      help: "Circuit breaker per model: 0 closed, 1 half-open (probing), 2 open (skipped)",
      labelNames: ["model"] as const,
      registers,
    }),
    modelTokens: new Counter({
      name: "agent_model_tokens_total",
      help: "Model tokens as the provider reports them (estimated when it reports none), by model and direction",
      labelNames: ["model", "direction"] as const,
      registers,
    }),
    toolCalls: new Counter({
      name: "agent_tool_calls_total",
      help: "Tool calls by tool and outcome (ok, error); tools the model made up are counted as tool=unknown",
      labelNames: ["tool", "outcome"] as const,
      registers,
    }),
    memoryRecallDuration: new Histogram({
      name: "agent_memory_recall_duration_seconds",
      help: "Recalling a user's memories before a reply (full-text or vector search)",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),

    // --- Streams --------------------------------------------------------------------------------------------------
    wsConnections: new Gauge({ name: "graphql_ws_connections", help: "Open graphql-ws connections", registers }),
    activeSubscriptions: new Gauge({
      name: "graphql_active_subscriptions",
      help: "Subscriptions streaming now, by transport (ws: graphql-ws, http: SSE or multipart)",
      labelNames: ["transport"] as const,
      registers,
    }),
    streamEvents: new Counter({
      name: "graphql_stream_events_total",
      help: "Subscription events sent to clients, by transport",
      labelNames: ["transport"] as const,
      registers,
    }),
    streamErrors: new Counter({
      name: "graphql_stream_errors_total",
      help: "Errors on subscriptions (refused at subscribe, errors in events, broken sources), by transport and code",
      labelNames: ["transport", "code"] as const,
      registers,
    }),

    // --- Limits, database, dependencies ------------------------------------------------------------------------
    rateLimited: new Counter({
      name: "rate_limit_refusals_total",
      help: "Operations refused with RATE_LIMITED, by bucket (auth, loginEmail, send, cost, apiKey)",
      labelNames: ["bucket"] as const,
      registers,
    }),
    trustedDocumentRefusals: new Counter({
      name: "graphql_trusted_document_refusals_total",
      help: "Operations refused before parsing by the trusted-documents rules, by transport and code (PERSISTED_QUERY_ONLY, PERSISTED_QUERY_NOT_FOUND, PERSISTED_QUERY_ID_REQUIRED)",
      labelNames: ["transport", "code"] as const,
      registers,
    }),
    dbQueryDuration: new Histogram({
      name: "db_query_duration_seconds",
      help: "SQL statements run by Prisma, by statement kind (select, insert, update, delete, begin, commit, other)",
      labelNames: ["statement"] as const,
      buckets: DB_QUERY_BUCKETS,
      registers,
    }),

    /** Tool names the agent really has; anything else a model asks for is `unknown`. */
    setKnownTools(names: Iterable<string>): void {
      knownTools = new Set(names);
    },
    toolCall(name: string, isError: boolean): void {
      metrics.toolCalls.inc({ tool: knownTools.has(name) ? name : "unknown", outcome: isError ? "error" : "ok" });
    },
    /** Times one SQL statement; `sql` only decides the statement label. */
    dbQuery(sql: string, durationMs: number): void {
      metrics.dbQueryDuration.observe({ statement: statementKind(sql) }, durationMs / 1000);
    },
  };
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

const STATEMENTS = new Set(["select", "insert", "update", "delete", "begin", "commit", "rollback", "with"]);

function statementKind(sql: string): string {
  const keyword = /^\s*([A-Za-z]+)/.exec(sql)?.[1]?.toLowerCase() ?? "";
  return STATEMENTS.has(keyword) ? keyword : "other";
}

/**
 * Label values from outside (GraphQL operation names) kept to a bounded set: a value is used as is when it is a
 * plain name and one of the first `max` distinct ones seen; every other value is `other`.
 */
export function boundedLabel(max: number, fallback = "other") {
  const seen = new Set<string>();
  return (value: string | undefined | null): string => {
    if (!value) return fallback;
    if (seen.has(value)) return value;
    if (seen.size >= max || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(value)) return fallback;
    seen.add(value);
    return value;
  };
}

/**
 * The gauges read at scrape time: whether each dependency answers its readiness check, and the PostgreSQL pool's
 * connections by state (`poolStats` gives none on PGlite, and the gauge stays empty).
 */
export function registerDependencyGauges<PoolState extends string>(
  metrics: Metrics,
  sources: {
    readiness: () => Promise<{ checks: Record<string, string> }>;
    poolStats: () => Record<PoolState, number> | undefined;
  },
): void {
  scrapeTimeGauge(metrics, {
    name: "app_dependency_up",
    help: "1 when the dependency answered the readiness check at scrape time (database, redis), else 0",
    labelNames: ["dependency"],
    collect: async (set) => {
      for (const [dependency, outcome] of Object.entries((await sources.readiness()).checks))
        set({ dependency }, outcome === "ok" ? 1 : 0);
    },
  });
  scrapeTimeGauge(metrics, {
    name: "db_pool_connections",
    help: "PostgreSQL pool connections by state (total, idle, waiting: requests queued for one); absent on PGlite",
    labelNames: ["state"],
    collect: (set) => {
      const stats = sources.poolStats();
      if (stats) for (const [state, value] of Object.entries<number>(stats)) set({ state }, value);
    },
  });
}

/** Gauges read at scrape time are registered on the app's registry. */
function scrapeTimeGauge(
  metrics: Metrics,
  options: {
    name: string;
    help: string;
    labelNames: string[];
    collect: (set: (labels: Record<string, string>, value: number) => void) => Promise<void> | void;
  },
): void {
  const gauge: Gauge<string> = new Gauge({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames,
    registers: [metrics.registry],
    async collect() {
      gauge.reset();
      await options.collect((labels, value) => gauge.set(labels, value));
    },
  });
}
