// Opens the database the config asks for: real PostgreSQL when DATABASE_URL is set, otherwise an embedded
// PGlite kept under DATA_DIR. Both get the same migrations, applied before the client is handed out.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import pg from "pg";
import { PrismaClient } from "../generated/prisma/client.ts";
import { APPLIED_MIGRATIONS_SQL, applyMigrations } from "./migrate.ts";

export interface DatabaseSettings {
  url: string | undefined;
  poolSize: number;
  /** Where the embedded database lives when `url` is unset. */
  dataDir: string;
  /** Hears of every SQL statement Prisma runs, with its duration (metrics); must not throw. */
  onQuery?: (sql: string, durationMs: number) => void;
}

/** Connections of the PostgreSQL pool right now (none for PGlite, which is one in-process connection). */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

export interface Database {
  prisma: PrismaClient;
  kind: "postgresql" | "pglite";
  appliedMigrations: string[];
  poolStats(): PoolStats | undefined;
  close(): Promise<void>;
}

export async function openDatabase(settings: DatabaseSettings): Promise<Database> {
  return settings.url
    ? openPostgres(settings.url, settings.poolSize, settings.onQuery)
    : openEmbedded(settings.dataDir, settings.onQuery);
}

/** Prisma's own timing of each statement (driver adapters included), only when someone listens. */
function createClient(adapter: SqlDriverAdapterFactory, onQuery: DatabaseSettings["onQuery"]) {
  if (!onQuery) return new PrismaClient({ adapter });
  const prisma = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  prisma.$on("query", (event) => onQuery(event.query, event.duration));
  return prisma as unknown as PrismaClient;
}

async function openPostgres(
  connectionString: string,
  poolSize: number,
  onQuery: DatabaseSettings["onQuery"],
): Promise<Database> {
  const appliedMigrations = await applyMigrations(new PrismaPg({ connectionString, max: 1 }), undefined, async () => {
    const client = new pg.Client({ connectionString });
    await client.connect();
    try {
      return (await client.query<{ name: string; checksum: string }>(APPLIED_MIGRATIONS_SQL)).rows;
    } finally {
      await client.end();
    }
  });
  // Our own pool, so its sizes can be reported; the adapter ends it on $disconnect. (Same `pg` at runtime; the
  // adapter bundles an older @types/pg, hence the cast.)
  const pool = new pg.Pool({ connectionString, max: poolSize });
  const prisma = createClient(new PrismaPg(pool as never, { disposeExternalPool: true }), onQuery);
  return {
    prisma,
    kind: "postgresql",
    appliedMigrations,
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => prisma.$disconnect(),
  };
}

async function openEmbedded(dataDir: string, onQuery: DatabaseSettings["onQuery"]): Promise<Database> {
  // Loaded only here: an instance on PostgreSQL never holds the embedded database's code.
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("pglite-prisma-adapter"),
  ]);
  const dir = join(dataDir, "pglite");
  await mkdir(dir, { recursive: true });
  const pglite = await PGlite.create(dir);
  const appliedMigrations = await applyMigrations(
    new PrismaPGlite(pglite),
    undefined,
    async () => (await pglite.query<{ name: string; checksum: string }>(APPLIED_MIGRATIONS_SQL)).rows,
  );
  const prisma = createClient(new PrismaPGlite(pglite), onQuery);
  return {
    prisma,
    kind: "pglite",
    appliedMigrations,
    poolStats: () => undefined,
    close: async () => {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}
