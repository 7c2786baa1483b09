// A client that reloads or comes back late, on one instance (the embedded default): it finds the running reply in
// Session.activeReply, rejoins it from its start with its streamCursor, and a cursor older than the retained events
// gets a MessageSnapshot instead of a replay with a hole. SESSION_BUSY names the running reply by its global id.
// Several instances: test/instances.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ActiveReplyDocument } from "./generated/graphql.ts";
import {
  collectReply,
  createSession,
  firstSubscriptionResult,
  graphql,
  MESSAGE_STREAM,
  signUp,
  wsClient,
  type StreamEvent,
} from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } streamCursor } }`;
const REPLY = `query($id: ID!) { node(id: $id) { ... on Message { status content streamCursor } } }`;

let app: TestApp;
let shortLog: TestApp;
beforeAll(async () => {
  // Slow enough to rejoin mid-reply, with the default event log (a whole reply is kept, so a rejoin replays it).
  app = await startTestApp({ DEV_MODEL_TOKEN_DELAY_MS: "30" });
  // A short event log, so an old cursor is soon out of it. (With it, the rejoin test above failed on a loaded CI
  // machine: more than five events passed before it subscribed, and it rightly got a snapshot, not a replay.)
  shortLog = await startTestApp({ DEV_MODEL_TOKEN_DELAY_MS: "30", REPLY_EVENT_RETENTION: "5" });
});
afterAll(async () => {
  await app?.cleanup();
  await shortLog?.cleanup();
});

describe("rejoining a reply", () => {
  it("activeReply names the running reply; its streamCursor replays it from the start; SESSION_BUSY names it too", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const sent = await graphql(
      app.graphqlUrl,
      SEND,
      { input: { sessionId, content: "tell me something long" } },
      user.token,
    );
    const { reply, streamCursor } = sent.data.sendMessage;

    const busy = await graphql(app.graphqlUrl, SEND, { input: { sessionId, content: "again" } }, user.token);
    expect(busy.errors?.[0]?.extensions).toMatchObject({ code: "SESSION_BUSY", replyId: reply.id });

    const active = await graphql(app.graphqlUrl, ActiveReplyDocument, { id: sessionId }, user.token);
    expect(active.data?.session?.activeReply).toMatchObject({ id: reply.id, status: "STREAMING", streamCursor });

    const client = wsClient(app.wsUrl, user.token);
    const events = await collectReply(
      client,
      { sessionId, after: active.data!.session!.activeReply!.streamCursor! },
      reply.id,
    );
    await client.dispose();
    const stored = (await graphql(app.graphqlUrl, REPLY, { id: reply.id }, user.token)).data.node;
    expect(stored).toMatchObject({ status: "COMPLETE", streamCursor });
    expect(
      events
        .filter((e) => e.__typename === "MessageDelta")
        .map((e) => e.delta)
        .join(""),
    ).toBe(stored.content);
    expect(
      (await graphql(app.graphqlUrl, ActiveReplyDocument, { id: sessionId }, user.token)).data?.session?.activeReply,
    ).toBeNull();
  });

  it("a cursor older than the retained events gets one MessageSnapshot with the reply's text, never a partial replay", async () => {
    const user = await signUp(shortLog.graphqlUrl);
    const sessionId = await createSession(shortLog.graphqlUrl, user.token);
    const sent = await graphql(
      shortLog.graphqlUrl,
      SEND,
      { input: { sessionId, content: "more than five events" } },
      user.token,
    );
    const { reply, streamCursor } = sent.data.sendMessage;
    const client = wsClient(shortLog.wsUrl, user.token);
    const live = await collectReply(client, { sessionId, after: streamCursor }, reply.id);
    expect(live.length).toBeGreaterThan(5);

    const late = await firstSubscriptionResult(client, {
      query: MESSAGE_STREAM,
      variables: { sessionId, after: streamCursor },
    });
    await client.dispose();
    const snapshot = late.data?.messageStream as StreamEvent & { message: { status: string } };
    expect(snapshot).toMatchObject({
      __typename: "MessageSnapshot",
      messageId: reply.id,
      message: { status: "COMPLETE" },
    });
    expect(snapshot.content).toBe(live.at(-1)!.message!.content);
    expect(snapshot.cursor).toBe(live.at(-1)!.cursor);
  });
});
