// The only module that reads the environment. Every other module receives a typed slice of `AppConfig`.
import { z } from "zod";

const appEnvs = ["development", "test", "staging", "production"] as const;
export type AppEnv = (typeof appEnvs)[number];

/**
 * The environment when APP_ENV is not set: NODE_ENV when it names one, else `fallback`, which is production unless
 * the command asked for another (`npm start` and `npm run dev` pass `--default-app-env=development`, read by
 * main.ts). An environment nobody named fails closed: secrets required, errors masked, no GraphiQL, no CORS "*".
 */
export function defaultAppEnv(nodeEnv: string | undefined, fallback: AppEnv = "production"): AppEnv {
  return isAppEnv(nodeEnv) ? nodeEnv : fallback;
}

export function isAppEnv(value: string | undefined): value is AppEnv {
  return (appEnvs as readonly string[]).includes(value ?? "");
}

const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === "" ? undefined : value))
  .optional();

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const envSchema = z.object({
  APP_ENV: z.enum(appEnvs).optional(),
  NODE_ENV: optionalString,
  HOST: optionalString,
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  DATA_DIR: z.string().trim().min(1).default("./.data"),
  DATABASE_URL: optionalString,
  DATABASE_POOL_SIZE: positiveInt(20),
  REDIS_URL: optionalString,
  JWT_SECRET: optionalString,
  ACCESS_TOKEN_TTL_SECONDS: positiveInt(900),
  REFRESH_TOKEN_TTL_SECONDS: positiveInt(30 * 24 * 3600),
  ARGON2_MEMORY_KIB: positiveInt(65536),
  ARGON2_TIME_COST: positiveInt(3),
  ARGON2_PARALLELISM: positiveInt(1),
  MAX_MESSAGE_CHARS: positiveInt(10_000),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString,
  LLM_MODEL: z.string().trim().min(1).default("gpt-4o-mini"),
  LLM_MAX_OUTPUT_TOKENS: positiveInt(1024),
  LLM_TIMEOUT_MS: positiveInt(60_000),
  LLM_DAILY_TOKEN_LIMIT: positiveInt(200_000),
  MAX_CONCURRENT_REPLIES_PER_USER: positiveInt(3),
  REPLIES_MAX_RUNNING: positiveInt(1000),
  REPLIES_MAX_QUEUED: z.coerce.number().int().min(0).default(2000),
  REPLIES_MAX_EVENT_LOOP_LAG_MS: positiveInt(1000),
  REPLY_LEASE_MS: z.coerce.number().int().min(1_000, "must be at least 1000 ms").default(10_000),
  LLM_FALLBACK_MODELS: optionalString,
  LLM_FALLBACK_API_KEY: optionalString,
  LLM_TOTAL_DEADLINE_MS: positiveInt(120_000),
  LLM_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  LLM_BREAKER_FAILURES: positiveInt(5),
  LLM_BREAKER_COOLDOWN_MS: positiveInt(30_000),
  LLM_HISTORY_TOKEN_BUDGET: positiveInt(8000),
  AGENT_NAME: z.string().trim().min(1).default("Ada"),
  SEND_WHILE_STREAMING: z.enum(["reject", "queue"]).default("reject"),
  WEB_SEARCH_PROVIDER: z.enum(["duckduckgo", "searxng", "off"]).default("duckduckgo"),
  WEB_SEARCH_URL: optionalString,
  TOOL_TIMEOUT_MS: positiveInt(10_000),
  EMBEDDINGS_MODEL: optionalString,
  MEMORY_EXTRACTION_QUEUE_MAX: positiveInt(100),
  MEMORY_RECALL_LIMIT: positiveInt(5),
  LANGFUSE_PUBLIC_KEY: optionalString,
  LANGFUSE_SECRET_KEY: optionalString,
  LANGFUSE_BASE_URL: optionalString,
  DEV_MODEL_TOKEN_DELAY_MS: z.coerce.number().int().min(0).default(15),
  REPLY_EVENT_RETENTION: positiveInt(2000),
  GRAPHIQL: z.enum(["true", "false"]).optional(),
  GRAPHQL_INTROSPECTION: z.enum(["true", "false"]).default("true"),
  GRAPHQL_FIELD_SUGGESTIONS: z.enum(["true", "false"]).optional(),
  PERSISTED_DOCUMENTS_PATH: z.string().trim().min(1).default("web/src/generated/persisted-documents.json"),
  PERSISTED_DOCUMENTS_ONLY: z.enum(["true", "false"]).optional(),
  GRAPHQL_MAX_DEPTH: positiveInt(12),
  GRAPHQL_MAX_ALIASES: positiveInt(15),
  GRAPHQL_MAX_COST: positiveInt(1000),
  GRAPHQL_MAX_TOKENS: positiveInt(2000),
  GRAPHQL_MAX_DIRECTIVES: positiveInt(20),
  MAX_SUBSCRIPTIONS_PER_USER: positiveInt(20),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: positiveInt(10),
  MAX_SSE_STREAMS_PER_USER: positiveInt(5),
  WS_CONNECTION_INIT_TIMEOUT_MS: positiveInt(3_000),
  WS_ANONYMOUS_TIMEOUT_MS: positiveInt(30_000),
  WS_IDLE_TIMEOUT_MS: positiveInt(300_000),
  WS_MAX_CONNECTIONS_PER_ADDRESS: positiveInt(100),
  WS_MAX_CONNECTIONS: positiveInt(20_000),
  RATE_LIMIT_AUTH_PER_15_MIN: positiveInt(20),
  RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN: positiveInt(10),
  RATE_LIMIT_SEND_PER_MIN: positiveInt(20),
  RATE_LIMIT_QUERY_COST_PER_MIN: positiveInt(6000),
  RATE_LIMIT_API_KEY_PER_MINUTE: positiveInt(600),
  REDIS_KEY_PREFIX: z.string().trim().min(1).default("agent-api"),
  ALLOWED_ORIGINS: optionalString,
  MAX_REQUEST_BODY_BYTES: positiveInt(1_000_000),
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  LOG_PRETTY: z.enum(["true", "false"]).optional(),
  METRICS_TOKEN: optionalString,
  SHUTDOWN_GRACE_MS: positiveInt(10_000),
});

export interface AppConfig {
  env: AppEnv;
  server: {
    host: string | undefined;
    port: number;
    graphiql: boolean;
    /** Browser origins allowed to call the API; ["*"] = any (no cookies are used, so no credentials). */
    allowedOrigins: string[];
    maxRequestBodyBytes: number;
  };
  dataDir: string;
  database: { url: string | undefined; poolSize: number };
  /** Admission control per instance: replies generating at once, and waiting for a slot (OVERLOADED beyond). */
  replies: { maxRunning: number; maxQueued: number; maxEventLoopLagMs: number; leaseMs: number };
  /** Set: reply events fan out through Redis to every instance. Unset: in-process (one instance). */
  redis: { url: string | undefined; keyPrefix: string };
  auth: {
    /** Undefined only in development/test: the app then keeps a generated secret in `dataDir`. */
    jwtSecret: string | undefined;
    accessTokenTtlSeconds: number;
    /** A refresh token is single-use; each use returns a new one valid this long. */
    refreshTokenTtlSeconds: number;
    argon2: { memoryCost: number; timeCost: number; parallelism: number };
  };
  messages: { maxChars: number };
  llm: {
    apiKey: string | undefined;
    baseUrl: string | undefined;
    model: string;
    maxOutputTokens: number;
    timeoutMs: number;
    devModelTokenDelayMs: number;
    /** Model tokens (input + output) one user may spend per UTC day. */
    dailyTokenLimit: number;
    /** Replies one user may have running or queued at once (REPLY_LIMIT_EXCEEDED beyond). */
    maxConcurrentRepliesPerUser: number;
    /** Tried in order after the primary model fails (each entry its own circuit breaker). */
    fallbacks: Array<{ model: string; baseUrl: string | undefined; apiKey: string | undefined }>;
    /** All attempts of one model call together, retries and fallbacks included. */
    totalDeadlineMs: number;
    /** Retries per model on retryable failures (429, 5xx, timeouts, broken streams). */
    maxRetries: number;
    breaker: { failureThreshold: number; cooldownMs: number };
    /** Conversation history sent to the model is trimmed to this many tokens (separate from the output limit). */
    historyTokenBudget: number;
  };
  agent: {
    name: string;
    /** What sendMessage does while the session's previous reply still streams: SESSION_BUSY, or wait its turn. */
    sendWhileStreaming: "reject" | "queue";
    tools: {
      webSearch: { provider: "duckduckgo" | "searxng" | "off"; url: string | undefined };
      timeoutMs: number;
    };
  };
  memory: {
    /** Set: recall by pgvector similarity of these embeddings (when the extension exists). Unset: full-text search. */
    embeddingsModel: string | undefined;
    extractionQueueMax: number;
    recallLimit: number;
  };
  /** Tracing is off unless both keys are set. */
  langfuse: { publicKey: string | undefined; secretKey: string | undefined; baseUrl: string | undefined };
  events: { retentionPerSession: number };
  rateLimits: {
    auth: { points: number; windowSeconds: number };
    loginEmail: { points: number; windowSeconds: number };
    send: { points: number; windowSeconds: number };
    /** Query cost points (see use-query-cost.ts) per user, per API key, or per client address when anonymous. */
    cost: { points: number; windowSeconds: number };
    /** Operations per API key (one point each), on top of the key's own send and cost buckets. */
    apiKey: { points: number; windowSeconds: number };
    trustedProxyHops: number;
  };
  limits: { maxDepth: number; maxAliases: number; maxCost: number; maxTokens: number; maxDirectives: number };
  /** Subscriptions held at once, per instance (SUBSCRIPTION_LIMIT_EXCEEDED beyond). */
  subscriptions: { maxPerUser: number; maxPerConnection: number; maxSseStreamsPerUser: number };
  /** graphql-ws connections: frames are capped at `server.maxRequestBodyBytes` too (close 1009 beyond). */
  graphqlWs: {
    /** No `connection_init` by then: closed with 4408. */
    connectionInitTimeoutMs: number;
    /** Not authenticated by its `connection_init` (no or a bad token): closed with 4401 after this long. */
    anonymousTimeoutMs: number;
    /** No subscription running and no operation sent for this long: closed with 1000. */
    idleTimeoutMs: number;
    /** Open connections per client address (429 at the upgrade beyond) and in all (503 beyond). */
    maxConnectionsPerAddress: number;
    maxConnections: number;
  };
  schema: {
    /** Partners rely on introspection, so it is on unless turned off. */
    introspection: boolean;
    /** "Did you mean …?" hints in validation errors; off by default outside development/test. */
    fieldSuggestions: boolean;
  };
  /** Trusted documents (src/api/persisted-documents.ts). */
  persistedDocuments: {
    /** The manifest: hex SHA-256 of each document → its text; relative to the working directory. */
    path: string;
    /** Query text is refused (PERSISTED_QUERY_ONLY) unless an API key authenticates the request; the manifest must exist. */
    only: boolean;
  };
  logLevel: z.infer<typeof envSchema>["LOG_LEVEL"];
  /** Human-readable logs (pino-pretty, a dev dependency) instead of JSON lines; development only by default. */
  logPretty: boolean;
  /** Set: `/metrics` answers only `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
  /** Without a token: `/metrics` open to anyone (development/test) or refused (staging/production). */
  metricsOpenWithoutToken: boolean;
  lifecycle: {
    /** On SIGTERM, running replies get this long to finish before they are cut off (INTERRUPTED). */
    shutdownGraceMs: number;
  };
  /** Settings that are allowed but worth a line in the log at start (main.ts logs them). */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    appEnv?: AppEnv,
  ) {
    const heading = appEnv ? `Refusing to start with APP_ENV=${appEnv}; fix these settings:` : "Invalid configuration:";
    super(`${heading}\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment once; reports every problem together, naming each variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  }
  const e = parsed.data;
  const appEnv: AppEnv = e.APP_ENV ?? defaultAppEnv(e.NODE_ENV);
  const problems: string[] = [];
  const warnings: string[] = [];
  const generatedSecretAllowed = appEnv === "development" || appEnv === "test";
  const deployed = !generatedSecretAllowed; // staging and production: reachable by others, real users or data
  if (!e.JWT_SECRET) {
    if (deployed) problems.push(`JWT_SECRET: required in ${appEnv}: at least 32 random characters (e.g. \`openssl rand -base64 48\`)`);
  } else {
    const weakness = jwtSecretWeakness(e.JWT_SECRET);
    // A short secret is refused everywhere; a guessable one only where tokens protect real accounts.
    if (weakness === "short") problems.push("JWT_SECRET: must be at least 32 characters (e.g. `openssl rand -base64 48`)");
    else if (weakness && deployed) {
      problems.push(`JWT_SECRET: ${weakness}; anyone who guesses it can sign tokens for any user (use \`openssl rand -base64 48\`)`);
    }
  }
  const origins = e.ALLOWED_ORIGINS?.split(",").map((origin) => origin.trim()).filter(Boolean);
  if (deployed && origins?.includes("*")) {
    problems.push(
      `ALLOWED_ORIGINS: "*" is refused in ${appEnv}: it lets every website's scripts call the API from a visitor's ` +
        "browser; list your frontends' origins (comma-separated), or leave it unset for same-origin only",
    );
  }
  if (appEnv === "production" && (e.LOG_LEVEL === "debug" || e.LOG_LEVEL === "trace")) {
    problems.push(
      `LOG_LEVEL: "${e.LOG_LEVEL}" is refused in production: libraries log request details at that level that the ` +
        "redaction list does not know about, and the volume hides real problems; use info (or debug in staging)",
    );
  }
  if (!e.OPENAI_API_KEY) {
    if (appEnv === "production") {
      problems.push(
        "OPENAI_API_KEY: required in production; without it the offline dev model would answer your users with " +
          "canned text (for a local server without keys, e.g. Ollama, set any value: OPENAI_API_KEY=ollama)",
      );
    } else if (appEnv === "staging") warnings.push("OPENAI_API_KEY is not set: replies come from the offline dev model");
  }
  if (e.METRICS_TOKEN && e.METRICS_TOKEN.length < 16) problems.push("METRICS_TOKEN: must be at least 16 characters");
  if (deployed && !e.METRICS_TOKEN) {
    warnings.push(
      `METRICS_TOKEN is not set: /metrics is refused (403) in ${appEnv}; to scrape it, set METRICS_TOKEN ` +
        "(at least 16 random characters, e.g. `openssl rand -hex 24`) and send `Authorization: Bearer <token>`",
    );
  }
  if (deployed && e.GRAPHIQL === "true") warnings.push(`GRAPHIQL=true in ${appEnv}: the GraphiQL IDE is served on GET /graphql`);
  if (appEnv === "production" && !e.DATABASE_URL) {
    warnings.push(`DATABASE_URL is not set: embedded PGlite in ${e.DATA_DIR} (one instance only; back that directory up)`);
  }
  if (e.WEB_SEARCH_PROVIDER === "searxng" && !e.WEB_SEARCH_URL) {
    problems.push("WEB_SEARCH_URL: required when WEB_SEARCH_PROVIDER=searxng (the SearXNG instance's base URL)");
  }
  for (const entry of (e.LLM_FALLBACK_MODELS ?? "").split(",").map((item) => item.trim()).filter(Boolean)) {
    const url = entry.split("@")[1];
    if (url !== undefined && !URL.canParse(url)) problems.push(`LLM_FALLBACK_MODELS: "${entry}" has no valid URL after @`);
  }
  if (problems.length > 0) throw new ConfigError(problems, deployed ? appEnv : undefined);

  return {
    env: appEnv,
    server: {
      host: e.HOST,
      port: e.PORT,
      // An IDE for developers; elsewhere only when asked for (it is harmless, but it is surface nobody needs).
      graphiql: e.GRAPHIQL ? e.GRAPHIQL === "true" : generatedSecretAllowed,
      // Open in development so any local frontend works; closed (same-origin only) elsewhere unless listed.
      allowedOrigins: origins ?? (generatedSecretAllowed ? ["*"] : []),
      maxRequestBodyBytes: e.MAX_REQUEST_BODY_BYTES,
    },
    dataDir: e.DATA_DIR,
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
    replies: { maxRunning: e.REPLIES_MAX_RUNNING, maxQueued: e.REPLIES_MAX_QUEUED, maxEventLoopLagMs: e.REPLIES_MAX_EVENT_LOOP_LAG_MS, leaseMs: e.REPLY_LEASE_MS },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    auth: {
      jwtSecret: e.JWT_SECRET,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
    },
    messages: { maxChars: e.MAX_MESSAGE_CHARS },
    llm: {
      apiKey: e.OPENAI_API_KEY,
      baseUrl: e.OPENAI_BASE_URL,
      model: e.LLM_MODEL,
      maxOutputTokens: e.LLM_MAX_OUTPUT_TOKENS,
      timeoutMs: e.LLM_TIMEOUT_MS,
      devModelTokenDelayMs: e.DEV_MODEL_TOKEN_DELAY_MS,
      dailyTokenLimit: e.LLM_DAILY_TOKEN_LIMIT,
      maxConcurrentRepliesPerUser: e.MAX_CONCURRENT_REPLIES_PER_USER,
      fallbacks: parseFallbacks(e.LLM_FALLBACK_MODELS, e.LLM_FALLBACK_API_KEY ?? e.OPENAI_API_KEY),
      totalDeadlineMs: e.LLM_TOTAL_DEADLINE_MS,
      maxRetries: e.LLM_MAX_RETRIES,
      breaker: { failureThreshold: e.LLM_BREAKER_FAILURES, cooldownMs: e.LLM_BREAKER_COOLDOWN_MS },
      historyTokenBudget: e.LLM_HISTORY_TOKEN_BUDGET,
    },
    agent: {
      name: e.AGENT_NAME,
      sendWhileStreaming: e.SEND_WHILE_STREAMING,
      tools: {
        webSearch: { provider: e.WEB_SEARCH_PROVIDER, url: e.WEB_SEARCH_URL },
        timeoutMs: e.TOOL_TIMEOUT_MS,
      },
    },
    memory: {
      embeddingsModel: e.EMBEDDINGS_MODEL,
      extractionQueueMax: e.MEMORY_EXTRACTION_QUEUE_MAX,
      recallLimit: e.MEMORY_RECALL_LIMIT,
    },
    langfuse: { publicKey: e.LANGFUSE_PUBLIC_KEY, secretKey: e.LANGFUSE_SECRET_KEY, baseUrl: e.LANGFUSE_BASE_URL },
    events: { retentionPerSession: e.REPLY_EVENT_RETENTION },
    rateLimits: {
      auth: { points: e.RATE_LIMIT_AUTH_PER_15_MIN, windowSeconds: 15 * 60 },
      loginEmail: { points: e.RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN, windowSeconds: 15 * 60 },
      send: { points: e.RATE_LIMIT_SEND_PER_MIN, windowSeconds: 60 },
      cost: { points: e.RATE_LIMIT_QUERY_COST_PER_MIN, windowSeconds: 60 },
      apiKey: { points: e.RATE_LIMIT_API_KEY_PER_MINUTE, windowSeconds: 60 },
      trustedProxyHops: e.TRUSTED_PROXY_HOPS,
    },
    limits: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxCost: e.GRAPHQL_MAX_COST,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
    },
    subscriptions: {
      maxPerUser: e.MAX_SUBSCRIPTIONS_PER_USER,
      maxPerConnection: e.MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxSseStreamsPerUser: e.MAX_SSE_STREAMS_PER_USER,
    },
    graphqlWs: {
      connectionInitTimeoutMs: e.WS_CONNECTION_INIT_TIMEOUT_MS,
      anonymousTimeoutMs: e.WS_ANONYMOUS_TIMEOUT_MS,
      idleTimeoutMs: e.WS_IDLE_TIMEOUT_MS,
      maxConnectionsPerAddress: e.WS_MAX_CONNECTIONS_PER_ADDRESS,
      maxConnections: e.WS_MAX_CONNECTIONS,
    },
    schema: {
      introspection: e.GRAPHQL_INTROSPECTION === "true",
      fieldSuggestions: e.GRAPHQL_FIELD_SUGGESTIONS
        ? e.GRAPHQL_FIELD_SUGGESTIONS === "true"
        : generatedSecretAllowed,
    },
    persistedDocuments: {
      path: e.PERSISTED_DOCUMENTS_PATH,
      // Deployed apps run only what their build produced; developers edit queries freely.
      only: e.PERSISTED_DOCUMENTS_ONLY ? e.PERSISTED_DOCUMENTS_ONLY === "true" : deployed,
    },
    logLevel: e.LOG_LEVEL,
    logPretty: e.LOG_PRETTY ? e.LOG_PRETTY === "true" : appEnv === "development",
    metricsToken: e.METRICS_TOKEN,
    metricsOpenWithoutToken: generatedSecretAllowed,
    lifecycle: { shutdownGraceMs: e.SHUTDOWN_GRACE_MS },
    warnings,
  };
}

/**
 * Only where the data lives, for `scripts/migrate.ts`: applying migrations needs no secrets, so it works wherever
 * the database is reachable, whatever the environment's other settings.
 */
export function loadDatabaseConfig(env: Record<string, string | undefined> = process.env): Pick<AppConfig, "dataDir" | "database"> {
  const parsed = envSchema.pick({ DATA_DIR: true, DATABASE_URL: true, DATABASE_POOL_SIZE: true }).safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  }
  const e = parsed.data;
  return { dataDir: e.DATA_DIR, database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE } };
}

/** Values people paste from docs and examples; a secret containing one of these was not generated. */
const PLACEHOLDER_SECRET =
  /change.?me|changeit|replace.?me|placeholder|example|your.?(jwt.?)?secret|(test|dev|jwt|my|super).?secret|dummy|insecure|default|xxxxxxxx|0{8}|1234567/i;

/**
 * Why a JWT secret is unfit, or undefined. "short" under 32 characters; otherwise a known placeholder or a
 * low-entropy string: few distinct characters, under ~96 bits by character frequency (Shannon), or mostly runs
 * (`aaaa`, `abcd`). A heuristic that refuses the usual mistakes; `openssl rand -base64 48` passes it by far.
 */
export function jwtSecretWeakness(secret: string): "short" | string | undefined {
  if (secret.length < 32) return "short";
  if (PLACEHOLDER_SECRET.test(secret)) return "is a placeholder, not a generated secret";
  const counts = new Map<string, number>();
  for (const char of secret) counts.set(char, (counts.get(char) ?? 0) + 1);
  const length = [...secret].length;
  const bits = [...counts.values()].reduce((sum, n) => sum - n * Math.log2(n / length), 0);
  let runs = 0;
  for (let i = 1; i < secret.length; i++) {
    const step = secret.charCodeAt(i) - secret.charCodeAt(i - 1);
    if (step >= -1 && step <= 1) runs++;
  }
  if (counts.size < 10 || bits < 96 || runs > secret.length / 2) return "has too little randomness (repeated or sequential characters)";
  return undefined;
}

/** `model` (same server as the primary) or `model@https://server/v1`, comma-separated, in fallback order. */
function parseFallbacks(value: string | undefined, apiKey: string | undefined): AppConfig["llm"]["fallbacks"] {
  return (value ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.indexOf("@");
      return at < 0
        ? { model: entry, baseUrl: undefined, apiKey }
        : { model: entry.slice(0, at), baseUrl: entry.slice(at + 1), apiKey };
    });
}
