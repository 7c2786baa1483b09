// A database of its own on a PostgreSQL server (TEST_DATABASE_URL), dropped after: one per app or suite, and one
// per load-test server (scripts/load). Empty, or a copy of `template` (CREATE DATABASE … TEMPLATE: a file-level
// copy, no statements replayed), which must have no open connections while it is copied.
import { randomUUID } from "node:crypto";
import pg from "pg";

export async function createThrowawayDatabase(
  baseUrl: string,
  { prefix = "agent_api_test", template }: { prefix?: string; template?: string } = {},
) {
  const name = `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  await onServer(baseUrl, (client) =>
    client.query(
      template ? `CREATE DATABASE ${name} TEMPLATE ${pg.escapeIdentifier(template)}` : `CREATE DATABASE ${name}`,
    ),
  );
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => onServer(baseUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

async function onServer(baseUrl: string, statement: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await statement(client);
  } finally {
    await client.end();
  }
}
