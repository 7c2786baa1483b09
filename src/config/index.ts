// The only module that reads the environment (env-files.ts reads the files it may come from). Every other module
// receives a typed slice of `AppConfig`. Each concern is one zod object in its own file, over the variables it
// reads, whose output is its slice of `AppConfig`; the type below is derived from them, never written by hand.
import type { z } from "zod";
import { agentConfig } from "./agent.ts";
import { type Environment, environmentConfig } from "./app-env.ts";
import { authConfig } from "./auth.ts";
import { ConfigError } from "./config-error.ts";
import { databaseConfig } from "./database.ts";
import { eventsConfig } from "./events.ts";
import { graphqlWsConfig } from "./graphql-ws.ts";
import { langfuseConfig } from "./langfuse.ts";
import { lifecycleConfig } from "./lifecycle.ts";
import { limitsConfig } from "./limits.ts";
import { llmConfig } from "./llm.ts";
import { loggingConfig } from "./logging.ts";
import { memoryConfig } from "./memory.ts";
import { messagesConfig } from "./messages.ts";
import { metricsConfig } from "./metrics.ts";
import { persistedDocumentsConfig } from "./persisted-documents.ts";
import { rateLimitsConfig } from "./rate-limits.ts";
import { redisConfig } from "./redis.ts";
import { repliesConfig } from "./replies.ts";
import { schemaConfig } from "./schema.ts";
import { serverConfig } from "./server.ts";
import { subscriptionsConfig } from "./subscriptions.ts";

export { type AppEnv, isAppEnv, parseDefaultAppEnvFlag } from "./app-env.ts";
export { jwtSecretWeakness } from "./auth.ts";
export { ConfigError } from "./config-error.ts";

type Variables = Record<string, string | undefined>;

/** Every concern, in the order of AppConfig's fields; those whose defaults or refusals depend on the environment get it. */
function concernsFor(environment: Environment) {
  return [
    environmentConfig,
    serverConfig(environment),
    databaseConfig(environment),
    repliesConfig,
    redisConfig,
    authConfig(environment),
    messagesConfig,
    llmConfig(environment),
    agentConfig,
    memoryConfig,
    langfuseConfig,
    eventsConfig,
    rateLimitsConfig,
    limitsConfig,
    subscriptionsConfig,
    graphqlWsConfig,
    schemaConfig(environment),
    persistedDocumentsConfig(environment),
    loggingConfig(environment),
    metricsConfig(environment),
    lifecycleConfig,
  ] as const;
}

/** The concerns' slices side by side. `warnings` (settings allowed but worth a log line at start) gathers them all. */
type Merged<Concerns extends readonly z.ZodType[]> = Concerns extends readonly [
  infer First extends z.ZodType,
  ...infer Rest extends z.ZodType[],
]
  ? z.output<First> & Merged<Rest>
  : { warnings: string[] };
type Flat<T> = { [K in keyof T]: T[K] };
export type AppConfig = Flat<Merged<ReturnType<typeof concernsFor>>>;

/** Every variable loadConfig reads, each documented in .env.example. */
export const configVariables: readonly string[] = concernsFor({ env: "production", local: false }).flatMap((concern) =>
  Object.keys(concern.in.shape),
);

/** Parses the environment once; reports every problem together, naming each variable. */
export function loadConfig(env: Variables = process.env): AppConfig {
  const environment = environmentOf(env);
  const results = concernsFor(environment).map((concern) => concern.safeParse(env));
  const issues = results.flatMap((result) => result.error?.issues ?? []);
  if (issues.length > 0) throw ConfigError.fromIssues(issues, environment);
  const config: Record<string, unknown> = {};
  const warnings: string[] = [];
  for (const { data } of results) {
    const { warnings: concernWarnings = [], ...slice } = data as { warnings?: string[] };
    Object.assign(config, slice);
    warnings.push(...concernWarnings);
  }
  // The slices of exactly the concerns AppConfig is derived from; `.map` over the tuple only lost their types.
  return { ...config, warnings } as AppConfig;
}

/**
 * Only where the data lives, for `scripts/migrate.ts`: applying migrations needs no secrets, so it works wherever
 * the database is reachable, whatever the environment's other settings.
 */
export function loadDatabaseConfig(env: Variables = process.env): Pick<AppConfig, "dataDir" | "database"> {
  const environment = environmentOf(env);
  const parsed = databaseConfig(environment).safeParse(env);
  if (!parsed.success) throw ConfigError.fromIssues(parsed.error.issues, environment);
  return { dataDir: parsed.data.dataDir, database: parsed.data.database };
}

/** The environment the concerns are checked for; while APP_ENV does not parse (reported with the rest), production. */
function environmentOf(env: Variables): Environment {
  return environmentConfig.safeParse(env).data ?? { env: "production", local: false };
}
