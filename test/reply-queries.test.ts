// What one plain reply costs the database, statement by statement (Prisma's query log, through the app's own
// db_query_duration_seconds metric): a small constant, whatever the conversation's length. A change that adds a
// round trip to the hot path fails here and has to say why.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSession, sendAndCollectReply, signUp, wsClient } from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

/**
 * send: lock the user, read what decides (with the session touched), insert both messages, commit (BEGIN is not
 * logged); run: the latest checkpoint, recall, the new checkpoint, the reply stored with its charge, the session's
 * activity time; the subscriber's MessageCompleted.message; memory extraction's charge.
 * 12, not 11: the session's activity time at a reply's end (for chats by last activity) is a statement of its own,
 * because inside the reply's final write it deadlocked with concurrent sends on PostgreSQL (services/replies.ts).
 */
const STATEMENTS_PER_REPLY = 12;

let app: TestApp;
beforeAll(async () => {
  // Lease upkeep runs per instance on a timer, not per reply: out of the way of the count here.
  // No partial-text write mid-reply: one would come due only when a loaded machine makes a reply last a second.
  app = await startTestApp({
    DEV_MODEL_TOKEN_DELAY_MS: "0",
    REPLY_LEASE_MS: "3600000",
    REPLY_PARTIAL_FLUSH_MS: "3600000",
  });
});
afterAll(async () => {
  await app?.cleanup();
});

async function statements(): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(/^db_query_duration_seconds_count\{[^}]*\} (\d+)$/gm)) total += Number(match[1]);
  return total;
}

describe("database round trips per reply", () => {
  it(`a plain reply costs ${STATEMENTS_PER_REPLY} statements from send to extraction, on the 1st and the 6th turn alike`, async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const client = wsClient(app.wsUrl, user.token);
    const perTurn: number[] = [];
    for (let turn = 0; turn < 6; turn++) {
      await app.memories.idle();
      const before = await statements();
      const { events } = await sendAndCollectReply(app, user, { sessionId, content: `turn ${turn}` }, { client });
      expect(events.at(-1)?.__typename).toBe("MessageCompleted");
      await app.memories.idle();
      perTurn.push((await statements()) - before);
    }
    await client.dispose();
    expect(perTurn).toEqual(perTurn.map(() => STATEMENTS_PER_REPLY));
  });
});
