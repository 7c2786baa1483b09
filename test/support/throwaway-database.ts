// A database of its own on a PostgreSQL server (TEST_DATABASE_URL), dropped after: one per app or suite. Empty, or
// a copy of `template` (CREATE DATABASE … TEMPLATE: a file-level copy, no statements replayed), which must have no
// open connections while it is copied.
import { randomUUID } from "node:crypto";
import pg from "pg";

export async function createThrowawayDatabase(baseUrl: string, prefix = "agent_api_test", template?: string) {
  const name = `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(
      template ? `CREATE DATABASE ${name} TEMPLATE ${pg.escapeIdentifier(template)}` : `CREATE DATABASE ${name}`,
    );
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
