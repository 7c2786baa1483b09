// Sends that fail or are cancelled must not grow storage without bound: every run writes agent checkpoints, and
// they are pruned whatever ended the run (not only after COMPLETE replies). The database is read directly once the
// app has stopped (PGlite allows one process at a time).
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelGenerationDocument, SendMessageDocument } from "./generated/graphql.ts";
import { collectReply, createSession, graphql, signUp, wsClient } from "./support/clients.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fake-openai.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

/** CHECKPOINTS_KEPT_PER_SESSION in src/app.ts: a thread is pruned to it once it holds more than twice as many. */
const CHECKPOINTS_KEPT = 10;
const MOST_CHECKPOINTS = 2 * CHECKPOINTS_KEPT + 1;

let fake: FakeOpenAI;
let app: TestApp;
beforeAll(async () => {
  fake = await startFakeOpenAI();
  app = await startTestApp({
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.baseUrl,
    LLM_MODEL: "storage-model",
    LLM_MAX_RETRIES: "0",
    LLM_BREAKER_FAILURES: "1000",
  });
});
afterAll(async () => {
  await app?.cleanup();
  await fake?.close();
});

/** Rows of one of the agent's checkpoint tables for one thread (a chat session), read after the app stopped. */
async function rowsOf(table: "AgentCheckpoint" | "AgentCheckpointWrite", threadId: string): Promise<number> {
  const sql = `SELECT count(*) AS n FROM "${table}" WHERE "threadId" = $1`;
  if (app.env.DATABASE_URL) {
    const client = new pg.Client({ connectionString: app.env.DATABASE_URL });
    await client.connect();
    try {
      return Number((await client.query(sql, [threadId])).rows[0].n);
    } finally {
      await client.end();
    }
  }
  const db = await PGlite.create(join(app.dataDir, "pglite"));
  try {
    return Number((await db.query<{ n: number }>(sql, [threadId])).rows[0]!.n);
  } finally {
    await db.close();
  }
}

describe("storage per session stays bounded", () => {
  it("failed and cancelled sends prune the session's checkpoints like completed ones", {
    timeout: 60_000,
  }, async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const client = wsClient(app.wsUrl, user.token);
    for (let i = 0; i < 22; i++) {
      // "[fail]" makes the fake answer HTTP 500: the run writes checkpoints, then fails.
      const sent = await graphql(
        app.graphqlUrl,
        SendMessageDocument,
        { input: { sessionId, content: `[fail] ${i} ${randomUUID()}` } },
        user.token,
      );
      const events = await collectReply(
        client,
        { sessionId, after: sent.data!.sendMessage.streamCursor },
        sent.data!.sendMessage.reply.id,
      );
      expect(events.at(-1)?.__typename).toBe("MessageFailed");
    }
    const slow = `slow ${randomUUID()}`;
    for (let i = 0; i < 4; i++) {
      fake.planFor(slow, [{ kind: "reply", tokens: Array.from({ length: 50 }, () => "x "), tokenDelayMs: 50 }]);
      const sent = await graphql(
        app.graphqlUrl,
        SendMessageDocument,
        { input: { sessionId, content: `${slow} ${i}` } },
        user.token,
      );
      await graphql(app.graphqlUrl, CancelGenerationDocument, { input: { sessionId } }, user.token);
      const events = await collectReply(
        client,
        { sessionId, after: sent.data!.sendMessage.streamCursor },
        sent.data!.sendMessage.reply.id,
      );
      expect(events.at(-1), JSON.stringify(events.at(-1))).toMatchObject({ __typename: "MessageCancelled" });
    }
    await client.dispose();
    await app.stop({ graceMs: 5_000 }); // every run, and its pruning, is over once the app has stopped
    const threadId = Buffer.from(sessionId, "base64").toString().split(":")[1]!;
    // Pruned to the newest checkpoints and their writes; before, every failed or cancelled run left its own behind
    // (three checkpoints per run: 78 here).
    const checkpoints = await rowsOf("AgentCheckpoint", threadId);
    expect(checkpoints).toBeLessThanOrEqual(MOST_CHECKPOINTS);
    expect(await rowsOf("AgentCheckpointWrite", threadId)).toBeLessThanOrEqual(3 * MOST_CHECKPOINTS);
  });
});
