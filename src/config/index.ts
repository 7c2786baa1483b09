// The only module that reads the environment. Every other module receives a typed slice of `AppConfig`.
import { z } from "zod";

const appEnvs = ["development", "test", "staging", "production"] as const;
export type AppEnv = (typeof appEnvs)[number];

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
  DATABASE_POOL_SIZE: positiveInt(10),
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
  DEV_MODEL_TOKEN_DELAY_MS: z.coerce.number().int().min(0).default(15),
  REPLY_EVENT_RETENTION: positiveInt(2000),
  GRAPHIQL: z.enum(["true", "false"]).optional(),
  GRAPHQL_INTROSPECTION: z.enum(["true", "false"]).default("true"),
  GRAPHQL_FIELD_SUGGESTIONS: z.enum(["true", "false"]).optional(),
  GRAPHQL_MAX_DEPTH: positiveInt(12),
  GRAPHQL_MAX_ALIASES: positiveInt(15),
  GRAPHQL_MAX_COST: positiveInt(1000),
  GRAPHQL_MAX_TOKENS: positiveInt(2000),
  GRAPHQL_MAX_DIRECTIVES: positiveInt(20),
  RATE_LIMIT_AUTH_PER_15_MIN: positiveInt(20),
  RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN: positiveInt(10),
  RATE_LIMIT_SEND_PER_MIN: positiveInt(20),
  RATE_LIMIT_QUERY_COST_PER_MIN: positiveInt(6000),
  REDIS_KEY_PREFIX: z.string().trim().min(1).default("agent-api"),
  ALLOWED_ORIGINS: optionalString,
  MAX_REQUEST_BODY_BYTES: positiveInt(1_000_000),
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
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
  };
  events: { retentionPerSession: number };
  rateLimits: {
    auth: { points: number; windowSeconds: number };
    loginEmail: { points: number; windowSeconds: number };
    send: { points: number; windowSeconds: number };
    /** Query cost points (see use-query-cost.ts) per user, or per client address when anonymous. */
    cost: { points: number; windowSeconds: number };
    trustedProxyHops: number;
  };
  limits: { maxDepth: number; maxAliases: number; maxCost: number; maxTokens: number; maxDirectives: number };
  schema: {
    /** Partners rely on introspection, so it is on unless turned off. */
    introspection: boolean;
    /** "Did you mean …?" hints in validation errors; off by default outside development/test. */
    fieldSuggestions: boolean;
  };
  logLevel: z.infer<typeof envSchema>["LOG_LEVEL"];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
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
  const appEnv: AppEnv = e.APP_ENV ?? (e.NODE_ENV === "production" ? "production" : "development");
  const problems: string[] = [];
  const generatedSecretAllowed = appEnv === "development" || appEnv === "test";
  if (!generatedSecretAllowed && (!e.JWT_SECRET || e.JWT_SECRET.length < 32)) {
    problems.push(`JWT_SECRET: required in ${appEnv} and at least 32 characters (e.g. \`openssl rand -base64 48\`)`);
  }
  if (e.JWT_SECRET && e.JWT_SECRET.length < 32) {
    problems.push("JWT_SECRET: must be at least 32 characters");
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    env: appEnv,
    server: {
      host: e.HOST,
      port: e.PORT,
      graphiql: e.GRAPHIQL ? e.GRAPHIQL === "true" : true,
      // Open in development so any local frontend works; closed (same-origin only) elsewhere unless listed.
      allowedOrigins: e.ALLOWED_ORIGINS
        ? e.ALLOWED_ORIGINS.split(",").map((origin) => origin.trim()).filter(Boolean)
        : generatedSecretAllowed
          ? ["*"]
          : [],
      maxRequestBodyBytes: e.MAX_REQUEST_BODY_BYTES,
    },
    dataDir: e.DATA_DIR,
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
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
    },
    events: { retentionPerSession: e.REPLY_EVENT_RETENTION },
    rateLimits: {
      auth: { points: e.RATE_LIMIT_AUTH_PER_15_MIN, windowSeconds: 15 * 60 },
      loginEmail: { points: e.RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN, windowSeconds: 15 * 60 },
      send: { points: e.RATE_LIMIT_SEND_PER_MIN, windowSeconds: 60 },
      cost: { points: e.RATE_LIMIT_QUERY_COST_PER_MIN, windowSeconds: 60 },
      trustedProxyHops: e.TRUSTED_PROXY_HOPS,
    },
    limits: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxCost: e.GRAPHQL_MAX_COST,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
    },
    schema: {
      introspection: e.GRAPHQL_INTROSPECTION === "true",
      fieldSuggestions: e.GRAPHQL_FIELD_SUGGESTIONS
        ? e.GRAPHQL_FIELD_SUGGESTIONS === "true"
        : generatedSecretAllowed,
    },
    logLevel: e.LOG_LEVEL,
  };
}
