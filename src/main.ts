// The process: configuration files → config → logger → app, and the signals that stop it.
//   node dist/main.js                              APP_ENV from the environment or the files, else production
//   tsx src/main.ts --default-app-env=development  what `npm start` / `npm run dev` run: development unless set
import { parseArgs } from "node:util";
import { buildApp } from "./app.ts";
import { loadEnvFiles } from "./config/env-files.ts";
import { type AppEnv, ConfigError, loadConfig, parseDefaultAppEnvFlag } from "./config/index.ts";
import { createLogger } from "./observability/logger.ts";

/** Beyond the grace period, the rest of shutdown (sockets, Langfuse flush, database) gets this long. */
const SHUTDOWN_OVERRUN_MS = 15_000;

/**
 * The environment to assume when neither APP_ENV nor NODE_ENV names one. A flag rather than a variable, so the npm
 * scripts declare it the same way on every shell (Windows cmd has no `VAR=value command`).
 */
function defaultAppEnvFromArgs(): AppEnv | undefined {
  const { values } = parseArgs({ options: { "default-app-env": { type: "string" } } });
  return parseDefaultAppEnvFlag(values["default-app-env"]);
}

async function main(): Promise<void> {
  const { env, appEnv, files } = loadEnvFiles({ defaultAppEnv: defaultAppEnvFromArgs() });
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel, { pretty: config.logPretty });
  logger.info({ appEnv, envFiles: files }, "configuration loaded");
  process.on("uncaughtException", (error) => {
    logger.fatal({ err: error }, "uncaught exception; exiting");
    process.exit(1);
  });
  const app = await buildApp(config, { logger });
  await app.start();

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second Ctrl-C (or SIGTERM) means "now": running replies stay STREAMING until their lease runs out and an
      // instance (another one, or this one started again) ends them.
      logger.warn({ signal }, "second signal: exiting without waiting");
      process.exit(1);
    }
    stopping = true;
    const started = Date.now();
    const graceMs = config.lifecycle.shutdownGraceMs;
    logger.info({ signal, graceMs }, "shutting down: draining");
    setTimeout(() => {
      logger.error({ afterMs: Date.now() - started }, "shutdown did not finish in time; exiting");
      process.exit(1);
    }, graceMs + SHUTDOWN_OVERRUN_MS).unref();
    app.stop({ graceMs }).then(
      () => {
        logger.info({ durationMs: Date.now() - started }, "stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((error: unknown) => {
  // Before the logger exists (or when config is refused): one readable message, then exit 1.
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
