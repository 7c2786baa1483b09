// Memory embeddings in pgvector, created at run time and only where the `vector` extension exists: the migrations
// must still apply to stock PostgreSQL 15 and to PGlite, which have none. The table lives in its own schema so
// Prisma (which manages only `public`) never sees it as drift; rows go with their Memory (ON DELETE CASCADE).
import type { PrismaClient } from "../generated/prisma/client.ts";

/** Any fixed number: serializes concurrent setups by several instances starting together. */
const SETUP_LOCK = 0x6d656d76; // "memv"

export interface NearestMemory {
  id: string;
  content: string;
  distance: number;
}

/** Creates the extension (if allowed) and the embeddings table; false when pgvector is not installed. */
export async function enableMemoryVectors(prisma: PrismaClient): Promise<boolean> {
  const available = await prisma.$queryRaw<unknown[]>`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`;
  if (available.length === 0) return false;
  await prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SETUP_LOCK})`;
    await tx.$executeRawUnsafe(`CREATE EXTENSION IF NOT EXISTS vector`);
    await tx.$executeRawUnsafe(`CREATE SCHEMA IF NOT EXISTS memory_vectors`);
    // No dimension on the column: switching EMBEDDINGS_MODEL changes it, and rows are compared per model only.
    await tx.$executeRawUnsafe(`CREATE TABLE IF NOT EXISTS memory_vectors.embedding (
      "memoryId" TEXT PRIMARY KEY REFERENCES "Memory"("id") ON DELETE CASCADE,
      "userId" TEXT NOT NULL,
      "model" TEXT NOT NULL,
      "embedding" vector NOT NULL
    )`);
    // Recall scans one user's vectors exactly (hundreds to thousands of rows): an ANN index would filter by user
    // after the fact and miss rows, and it needs a fixed dimension.
    await tx.$executeRawUnsafe(
      `CREATE INDEX IF NOT EXISTS embedding_user_model_idx ON memory_vectors.embedding ("userId", "model")`,
    );
  });
  return true;
}

export async function saveEmbedding(
  prisma: PrismaClient,
  row: { memoryId: string; userId: string; model: string; embedding: number[] },
): Promise<void> {
  // INSERT … SELECT: a memory deleted since it was embedded inserts nothing instead of failing.
  await prisma.$executeRaw`
    INSERT INTO memory_vectors.embedding ("memoryId", "userId", "model", "embedding")
    SELECT "id", "userId", ${row.model}, ${toVector(row.embedding)}::vector FROM "Memory"
    WHERE "id" = ${row.memoryId} AND "userId" = ${row.userId}
    ON CONFLICT ("memoryId") DO UPDATE SET "model" = EXCLUDED."model", "embedding" = EXCLUDED."embedding"`;
}

/** After a memory's content changed: its old vector must not be found for the new text (backfill re-embeds it). */
export async function dropEmbedding(prisma: PrismaClient, memoryId: string): Promise<void> {
  await prisma.$executeRaw`DELETE FROM memory_vectors.embedding WHERE "memoryId" = ${memoryId}`;
}

/** The user's memories closest to `embedding` by cosine distance, nearest first. */
export function nearestMemories(
  prisma: PrismaClient,
  query: { userId: string; model: string; embedding: number[]; limit: number },
): Promise<NearestMemory[]> {
  return prisma.$queryRaw<NearestMemory[]>`
    SELECT m."id", m."content", (e."embedding" <=> ${toVector(query.embedding)}::vector)::float8 AS "distance"
    FROM memory_vectors.embedding e JOIN "Memory" m ON m."id" = e."memoryId"
    WHERE e."userId" = ${query.userId} AND e."model" = ${query.model}
    ORDER BY "distance", m."updatedAt" DESC
    LIMIT ${query.limit}`;
}

/** Memories of the user with no embedding from `model` yet (written before embeddings were on, or when it failed). */
export function memoriesWithoutEmbedding(
  prisma: PrismaClient,
  query: { userId: string; model: string; limit: number },
): Promise<Array<{ id: string; content: string }>> {
  return prisma.$queryRaw`
    SELECT m."id", m."content" FROM "Memory" m
    LEFT JOIN memory_vectors.embedding e ON e."memoryId" = m."id" AND e."model" = ${query.model}
    WHERE m."userId" = ${query.userId} AND e."memoryId" IS NULL
    ORDER BY m."updatedAt" DESC
    LIMIT ${query.limit}`;
}

function toVector(embedding: number[]): string {
  if (embedding.length === 0 || !embedding.every(Number.isFinite)) throw new Error("Invalid embedding");
  return `[${embedding.join(",")}]`;
}
