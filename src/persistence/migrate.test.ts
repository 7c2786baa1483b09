import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { describe, expect, it } from "vitest";
import { APPLIED_MIGRATIONS_SQL, applyMigrations, defaultMigrationsDir, diffSchemaToMigrations } from "./migrate.ts";

const testDatabaseUrl = process.env.TEST_DATABASE_URL;
const expectedTables = ["Message", "Session", "User", "_prisma_migrations"];
const tablesSql = "select table_name from information_schema.tables where table_schema = 'public' order by table_name";

async function migrationNames(): Promise<string[]> {
  const entries = await readdir(defaultMigrationsDir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

describe("migrations", () => {
  it("skip the migration engine when the database records every migration, unchanged", async () => {
    const db = new PGlite();
    try {
      await applyMigrations(new PrismaPGlite(db));
      const readApplied = async () => (await db.query<{ name: string; checksum: string }>(APPLIED_MIGRATIONS_SQL)).rows;
      // An adapter that fails on any use: the engine must not be started at all.
      const unusable = new Proxy({} as PrismaPGlite, {
        get: () => {
          throw new Error("the engine was started");
        },
      });
      expect(await applyMigrations(unusable, undefined, readApplied)).toEqual([]);
      // One file changed since it was applied (or a new one): the engine decides, as before.
      const tampered = async () =>
        (await readApplied()).map((row, i) => (i === 0 ? { ...row, checksum: "0".repeat(64) } : row));
      await expect(applyMigrations(unusable, undefined, tampered)).rejects.toThrow("the engine was started");
      expect(await applyMigrations(new PrismaPGlite(db), undefined, tampered)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it("apply to a fresh PGlite, then are up to date", async () => {
    const db = new PGlite();
    try {
      const names = await migrationNames();
      expect(names[0]).toMatch(/^\d{14}_init$/);
      expect(await applyMigrations(new PrismaPGlite(db))).toEqual(names);
      const { rows } = await db.query<{ table_name: string }>(tablesSql);
      expect(rows.map((row) => row.table_name)).toEqual(expect.arrayContaining(expectedTables));
      expect(await applyMigrations(new PrismaPGlite(db))).toEqual([]);
    } finally {
      await db.close();
    }
  });

  // Fails when prisma/schema.prisma changed without a migration: run `npm run migrate:dev -- --name <change>`.
  it("match prisma/schema.prisma (no missing migration)", async () => {
    expect(await diffSchemaToMigrations()).toBeUndefined();
  });

  it.skipIf(!testDatabaseUrl)("apply to a fresh PostgreSQL database, then are up to date", async () => {
    const admin = new pg.Client({ connectionString: testDatabaseUrl });
    await admin.connect();
    const database = `migrate_test_${randomBytes(6).toString("hex")}`;
    await admin.query(`CREATE DATABASE "${database}"`);
    try {
      const url = new URL(testDatabaseUrl!);
      url.pathname = `/${database}`;
      const connectionString = url.toString();
      expect(await applyMigrations(new PrismaPg({ connectionString }))).toEqual(await migrationNames());
      const client = new pg.Client({ connectionString });
      await client.connect();
      try {
        const { rows } = await client.query<{ table_name: string }>(tablesSql);
        expect(rows.map((row) => row.table_name)).toEqual(expect.arrayContaining(expectedTables));
      } finally {
        await client.end();
      }
      expect(await applyMigrations(new PrismaPg({ connectionString }))).toEqual([]);
    } finally {
      await admin.query(`DROP DATABASE "${database}" WITH (FORCE)`);
      await admin.end();
    }
  });
});
