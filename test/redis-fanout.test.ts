// Several instances behind a load balancer: a reply generated on one reaches subscribers on another.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogoutDocument, MeDocument } from "./generated/graphql.ts";
import {
  collectReply,
  createSession,
  graphql,
  sendAndCollectReply,
  signUp,
  wsClient,
  watchSubscription,
} from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const enabled = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);

describe.skipIf(!enabled)("two instances sharing PostgreSQL and Redis", () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({ DATABASE_URL: a.env.DATABASE_URL!, REDIS_KEY_PREFIX: a.env.REDIS_KEY_PREFIX! });
  });
  afterAll(async () => {
    await b?.cleanup();
    await a?.cleanup();
  });

  it("streams a reply started on instance A to a subscriber on instance B, and replays it there", async () => {
    const user = await signUp(a.graphqlUrl);
    const sessionId = await createSession(a.graphqlUrl, user.token);
    const onB = wsClient(b.wsUrl, user.token);
    const sentToA = { graphqlUrl: a.graphqlUrl, wsUrl: b.wsUrl };
    const { reply, streamCursor, events } = await sendAndCollectReply(
      sentToA,
      user,
      { sessionId, content: "fan out" },
      { client: onB },
    );
    const deltas = events.filter((e) => e.__typename === "MessageDelta");
    expect(deltas.length).toBeGreaterThanOrEqual(1);
    expect(events.at(-1)!.message!.content).toBe(deltas.map((e) => e.delta).join(""));

    // A late subscriber on B gets the same reply again from the shared log, its deltas merged into one event that
    // carries the last delta's cursor.
    const replayed = await collectReply(onB, { sessionId, after: streamCursor }, reply.id);
    await onB.dispose();
    expect(replayed.map((e) => e.__typename)).toEqual(["MessageDelta", "MessageCompleted"]);
    expect(replayed[0]!.delta).toBe(deltas.map((e) => e.delta).join(""));
    expect(replayed.map((e) => e.cursor)).toEqual([deltas.at(-1)!.cursor, events.at(-1)!.cursor]);
  });

  it("closes the login's sockets on instance B at once when it logs out on instance A", {
    timeout: 15_000,
  }, async () => {
    const user = await signUp(a.graphqlUrl);
    const sessionId = await createSession(a.graphqlUrl, user.token);
    const { connected, closed } = watchSubscription(b.wsUrl, user.token, sessionId);
    await connected;
    await graphql(a.graphqlUrl, LogoutDocument, {}, user.token);
    expect(await closed).toMatchObject({ code: 4401, reason: "Access token revoked" });
    expect((await graphql(b.graphqlUrl, MeDocument, {}, user.token)).errors?.[0]?.extensions?.code).toBe(
      "UNAUTHENTICATED",
    );
  });
});
