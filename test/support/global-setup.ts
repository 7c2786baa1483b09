// Once per test run, before any test file: a database with every migration applied, which each test app's database
// starts as a copy of (test-environment.ts). A fresh embedded database costs seconds per app (PGlite's initdb, then
// ten migrations through the wasm schema engine); copying a migrated one costs a fraction of a second. Each app still
// runs its migrate step on start, as in production, and finds nothing to apply.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { openDatabase } from "../../src/persistence/database.ts";
import { createThrowawayDatabase } from "./throwaway-database.ts";

/** Where the migrated copy is: a data directory (PGlite) or a database on TEST_DATABASE_URL's server. */
export type MigratedTemplate = { kind: "pglite"; dataDir: string } | { kind: "postgresql"; database: string };

declare module "vitest" {
  export interface ProvidedContext {
    migratedTemplate: MigratedTemplate;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl) {
    const database = await createThrowawayDatabase(serverUrl, { prefix: "agent_api_template" });
    await migrate({ url: database.url, dataDir: tmpdir() });
    project.provide("migratedTemplate", { kind: "postgresql", database: database.name });
    return database.drop;
  }
  const dataDir = await mkdtemp(join(tmpdir(), "agent-api-template-"));
  // Closed before any copy is made: a copy of a running PGlite's files would be a crashed database.
  await migrate({ url: undefined, dataDir });
  project.provide("migratedTemplate", { kind: "pglite", dataDir });
  return () => rm(dataDir, { recursive: true, force: true });
}

/** Through the app's own openDatabase, so the template holds exactly what an app's start would have applied. */
async function migrate(settings: { url: string | undefined; dataDir: string }): Promise<void> {
  const database = await openDatabase({ ...settings, poolSize: 1 });
  await database.close();
}
