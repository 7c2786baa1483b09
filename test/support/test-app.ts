// Starts the real app on a free port: embedded PGlite by default, a fresh database on the real
// PostgreSQL when TEST_DATABASE_URL is set (as .ci/run does).
import { startApp, type App } from "../../src/app.ts";
import { loadConfig } from "../../src/config/index.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { testEnvironment } from "./test-environment.ts";

export { TEST_JWT_SECRET, testEnvironment } from "./test-environment.ts";

export interface TestApp extends App {
  graphqlUrl: string;
  wsUrl: string;
  dataDir: string;
  /** The environment the app was started with (to start it again on the same data). */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function startTestApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  const environment = await testEnvironment(overrides);
  const config = loadConfig(environment.env);
  const app = await startApp(config, createLogger(config.logLevel));
  return {
    ...app,
    env: environment.env,
    dataDir: environment.dataDir,
    graphqlUrl: `${app.url}/graphql`,
    wsUrl: `${app.url.replace("http", "ws")}/graphql`,
    async cleanup() {
      await app.stop({ graceMs: 1000 });
      await environment.cleanup();
    },
  };
}
