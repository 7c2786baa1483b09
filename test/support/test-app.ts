// The real app for tests: embedded PGlite by default, a fresh database on the real PostgreSQL when
// TEST_DATABASE_URL is set (as .ci/run does). Built in process (`buildTestApp`: requests through `yoga.fetch`, no
// port) or started on a free port (`startTestApp`: for WebSockets, /health, /ready, /metrics and real clients).
import { buildApp, type App, type BuiltApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config/index.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { testEnvironment } from "./test-environment.ts";

export { TEST_JWT_SECRET, testEnvironment } from "./test-environment.ts";

interface TestAppParts {
  dataDir: string;
  /** The environment the app was built with (to start it again on the same data). */
  env: Record<string, string>;
  /** Stops the app (a 1 s grace) and removes its data directory and database. */
  cleanup(): Promise<void>;
}

export interface InProcessTestApp extends BuiltApp, TestAppParts {
  /** The GraphQL endpoint as `fetch` below sees it; nothing listens there. */
  graphqlUrl: string;
  /** `yoga.fetch`: the whole GraphQL pipeline without a socket (not /health, /ready or /metrics: the HTTP server's). */
  fetch(input: string | URL, init?: RequestInit): Promise<Response>;
  /** Starts the same app on PORT (a free one by default), for what needs a socket; again, the same app. */
  listen(): Promise<TestApp>;
}

export interface TestApp extends App, TestAppParts {
  graphqlUrl: string;
  wsUrl: string;
}

export async function buildTestApp(overrides: Record<string, string> = {}): Promise<InProcessTestApp> {
  const environment = await testEnvironment(overrides);
  const config = loadConfig(environment.env);
  const app = await buildApp(config, { logger: createLogger(config.logLevel) });
  const parts: TestAppParts = {
    env: environment.env,
    dataDir: environment.dataDir,
    async cleanup() {
      await app.stop({ graceMs: 1000 });
      await environment.cleanup();
    },
  };
  let listening: Promise<TestApp> | undefined;
  return {
    ...app,
    ...parts,
    graphqlUrl: `http://localhost${app.yoga.graphqlEndpoint}`,
    fetch: async (input, init = {}) => app.yoga.fetch(String(input), init),
    listen() {
      listening ??= app.start().then((started) => ({
        ...started,
        ...parts,
        graphqlUrl: `${started.url}/graphql`,
        wsUrl: `${started.url.replace("http", "ws")}/graphql`,
      }));
      return listening;
    },
  };
}

/** Builds the app and starts it on PORT (0 in the test environment: a free one). */
export async function startTestApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  return (await buildTestApp(overrides)).listen();
}
