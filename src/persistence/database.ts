// Opens the database the config asks for: real PostgreSQL when DATABASE_URL is set, otherwise an embedded
// PGlite kept under DATA_DIR. Both get the same migrations, applied before the client is handed out.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "../generated/prisma/client.ts";
import { applyMigrations } from "./migrate.ts";

export interface DatabaseSettings {
  url: string | undefined;
  poolSize: number;
  /** Where the embedded database lives when `url` is unset. */
  dataDir: string;
}

export interface Database {
  prisma: PrismaClient;
  kind: "postgresql" | "pglite";
  appliedMigrations: string[];
  close(): Promise<void>;
}

export async function openDatabase(settings: DatabaseSettings): Promise<Database> {
  return settings.url ? openPostgres(settings.url, settings.poolSize) : openEmbedded(settings.dataDir);
}

async function openPostgres(connectionString: string, poolSize: number): Promise<Database> {
  const appliedMigrations = await applyMigrations(new PrismaPg({ connectionString, max: 1 }));
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString, max: poolSize }) });
  return { prisma, kind: "postgresql", appliedMigrations, close: () => prisma.$disconnect() };
}

async function openEmbedded(dataDir: string): Promise<Database> {
  const dir = join(dataDir, "pglite");
  await mkdir(dir, { recursive: true });
  const pglite = await PGlite.create(dir);
  const appliedMigrations = await applyMigrations(new PrismaPGlite(pglite));
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    prisma,
    kind: "pglite",
    appliedMigrations,
    close: async () => {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}
