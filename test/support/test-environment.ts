// The environment of a test app: its own data directory, and a fresh database on the real PostgreSQL when
// TEST_DATABASE_URL is set (as .ci/run does); embedded PGlite otherwise. Under vitest either starts as a copy of the
// run's migrated template (global-setup.ts); elsewhere (scripts/bench.ts) it starts empty and the app migrates it.
import { randomUUID } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { MigratedTemplate } from "./global-setup.ts";
import { createThrowawayDatabase } from "./throwaway-database.ts";

export const TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789";

export async function testEnvironment(overrides: Record<string, string> = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), "agent-api-test-"));
  const template = await migratedTemplate();
  // An app given a database (another app's, say) needs none made for it.
  const serverUrl = overrides.DATABASE_URL === undefined ? process.env.TEST_DATABASE_URL : undefined;
  const database = serverUrl
    ? await createThrowawayDatabase(serverUrl, {
        template: template?.kind === "postgresql" ? template.database : undefined,
      })
    : undefined;
  const embedded = !serverUrl && !overrides.DATABASE_URL;
  if (embedded && template?.kind === "pglite") await copyDataDir(template.dataDir, dataDir);
  const env: Record<string, string> = {
    APP_ENV: "test",
    PORT: "0",
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_JWT_SECRET,
    // Fast hashing in tests; production defaults are exercised by the bench script.
    ARGON2_MEMORY_KIB: "8192",
    ARGON2_TIME_COST: "2",
    DEV_MODEL_TOKEN_DELAY_MS: "1",
    // Suites sign many users up from one address; the rate-limit suite sets its own small limits.
    RATE_LIMIT_AUTH_PER_15_MIN: "100000",
    RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN: "100000",
    RATE_LIMIT_SEND_PER_MIN: "100000",
    RATE_LIMIT_QUERY_COST_PER_MIN: "1000000",
    MAX_CONCURRENT_REPLIES_PER_USER: "1000",
    REDIS_KEY_PREFIX: `test-${randomUUID()}`,
    LOG_LEVEL: "silent",
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...(process.env.TEST_REDIS_URL ? { REDIS_URL: process.env.TEST_REDIS_URL } : {}),
    ...overrides,
  };
  return {
    env,
    dataDir,
    async cleanup() {
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The run's migrated template, when running under vitest with global-setup.ts. */
async function migratedTemplate(): Promise<MigratedTemplate | undefined> {
  if (!process.env.VITEST) return undefined;
  const { inject } = await import("vitest");
  return inject("migratedTemplate");
}

/**
 * The embedded database's files (DATA_DIR/pglite) of a closed, migrated PGlite. `cp -R` rather than fs.cp: about a
 * thousand small files, which fs.cp copies one promise at a time, several times slower.
 */
async function copyDataDir(from: string, to: string): Promise<void> {
  await promisify(execFile)("cp", ["-R", join(from, "pglite"), join(to, "pglite")]);
}
