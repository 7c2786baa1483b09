// Offline stand-in for `prisma migrate deploy` and `prisma migrate dev --create-only` (src/persistence/migrate.ts).
//   npx tsx scripts/migrate.ts deploy             -> DATABASE_URL if set, else the embedded PGlite in <DATA_DIR>/pglite
//     (read like the app does: the real environment over the .env files of APP_ENV, which defaults to production
//     as for `npm run start:prod`; `--default-app-env=development` reads the files `npm start` reads)
//   npx tsx scripts/migrate.ts dev --name <name>  -> prisma/migrations/<UTC timestamp>_<name>/migration.sql
import { access, mkdir, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { loadEnvFiles } from "../src/config/env-files.ts";
import { type AppEnv, loadDatabaseConfig, parseDefaultAppEnvFlag } from "../src/config/index.ts";
import {
  applyMigrations,
  defaultMigrationsDir,
  diffSchemaToMigrations,
  migrationLockToml,
} from "../src/persistence/migrate.ts";

async function deploy(defaultAppEnv: AppEnv | undefined): Promise<void> {
  // The same files and precedence as the app (src/config/env-files.ts), so it migrates the database the app uses;
  // only the database settings are read, so no secret is needed to migrate.
  const { env, appEnv } = loadEnvFiles({ defaultAppEnv });
  const config = loadDatabaseConfig(env);
  console.log(
    `Migrating ${config.database.url ? "DATABASE_URL" : `the embedded database in ${config.dataDir}`} (APP_ENV=${appEnv})`,
  );
  let applied: string[];
  if (config.database.url) {
    // The adapter creates (and, via applyMigrations, ends) its own pool.
    applied = await applyMigrations(new PrismaPg({ connectionString: config.database.url }));
  } else {
    const dir = resolve(config.dataDir, "pglite");
    await mkdir(dir, { recursive: true });
    const db = await PGlite.create(dir);
    try {
      applied = await applyMigrations(new PrismaPGlite(db));
    } finally {
      await db.close();
    }
  }
  const list = applied.map((name) => `\n  ${name}`).join("");
  console.log(applied.length ? `Applied ${applied.length} migration(s):${list}` : "No pending migrations");
}

async function dev(name: string): Promise<void> {
  // Prisma's own slug rules, minus camelCase splitting.
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 200);
  if (!slug) throw new Error("dev: --name must contain letters or digits");
  const sql = await diffSchemaToMigrations();
  if (sql === undefined) {
    console.log("No schema changes");
    return;
  }
  const timestamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14); // YYYYMMDDHHMMSS, UTC like Prisma
  const dir = join(defaultMigrationsDir, `${timestamp}_${slug}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "migration.sql"), sql);
  const lockPath = join(defaultMigrationsDir, "migration_lock.toml");
  if (
    !(await access(lockPath).then(
      () => true,
      () => false,
    ))
  )
    await writeFile(lockPath, migrationLockToml);
  console.log(`Wrote ${relative(process.cwd(), join(dir, "migration.sql"))}`);
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { name: { type: "string" }, "default-app-env": { type: "string" } },
});
const command = positionals[0];
try {
  if (command === "deploy") await deploy(parseDefaultAppEnvFlag(values["default-app-env"]));
  else if (command === "dev" && values.name) await dev(values.name);
  else throw new Error("usage: migrate.ts deploy | migrate.ts dev --name <name>");
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
