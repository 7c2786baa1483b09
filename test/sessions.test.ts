import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MySessionsDocument, SendMessageDocument } from "./generated/graphql.ts";
import {
  collectReply,
  createSession,
  firstSubscriptionResult,
  graphql,
  signUp,
  wsClient,
  MESSAGE_STREAM,
} from "./support/clients.ts";
import { buildTestApp, type InProcessTestApp } from "./support/test-app.ts";

/** In process (`yoga.fetch`); the tests that follow a reply over graphql-ws `listen()` it. */
let app: InProcessTestApp;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(async () => {
  await app?.cleanup();
});

const SESSION = `query($id: ID!) { session(id: $id) { id name createdAt updatedAt messages(first: 10) { totalCount edges { node { id } } } } }`;
const NODE = `query($id: ID!) { node(id: $id) { id __typename ... on Session { name } ... on Message { content } ... on User { email } } }`;
const RENAME = `mutation($input: RenameSessionInput!) { renameSession(input: $input) { session { id name } } }`;
const DELETE = `mutation($input: DeleteSessionInput!) { deleteSession(input: $input) { deletedSessionId } }`;
const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id content } reply { id } streamCursor } }`;

describe("sessions", () => {
  it("creates, lists newest first, paginates, renames and deletes", async () => {
    const { token } = await signUp(app);
    const first = await createSession(app, token);
    const second = await createSession(app, token, "Trip planning");
    const third = await createSession(app, token, "Code review");

    const page1 = await graphql(
      app,
      `{ me { sessions(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { id name } } } } }`,
      {},
      token,
    );
    const sessions = page1.data.me.sessions;
    expect(sessions.totalCount).toBe(3);
    expect(sessions.edges.map((e: any) => e.node.id)).toEqual([third, second]);
    expect(sessions.pageInfo.hasNextPage).toBe(true);
    const page2 = await graphql(
      app,
      `query($after: String) { me { sessions(first: 2, after: $after) { pageInfo { hasNextPage } edges { node { id name } } } } }`,
      { after: sessions.pageInfo.endCursor },
      token,
    );
    expect(page2.data.me.sessions.edges).toEqual([{ node: { id: first, name: "New chat" } }]);
    expect(page2.data.me.sessions.pageInfo.hasNextPage).toBe(false);

    const renamed = await graphql(app, RENAME, { input: { sessionId: first, name: "  <b>Renamed</b>  " } }, token);
    expect(renamed.data.renameSession.session).toEqual({ id: first, name: "<b>Renamed</b>" });

    const deleted = await graphql(app, DELETE, { input: { sessionId: second } }, token);
    expect(deleted.data.deleteSession.deletedSessionId).toBe(second);
    const gone = await graphql(app, SESSION, { id: second }, token);
    expect(gone.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const again = await graphql(app, DELETE, { input: { sessionId: second } }, token);
    expect(again.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  it("lists newest activity first on request: a send and the end of its reply move the session up", async () => {
    const { token } = await signUp(app);
    const older = await createSession(app, token, "Older");
    const newer = await createSession(app, token, "Newer");
    const list = async (orderBy?: "CREATED_AT_DESC" | "UPDATED_AT_DESC") => {
      const result = await graphql(app, MySessionsDocument, orderBy ? { orderBy } : {}, token);
      expect(result.errors).toBeUndefined();
      return result.data!.me!.sessions.edges.map(({ node }) => node);
    };
    expect((await list("UPDATED_AT_DESC")).map(({ id }) => id)).toEqual([newer, older]);

    const sent = await graphql(app, SendMessageDocument, { input: { sessionId: older, content: "hello" } }, token);
    expect(sent.errors).toBeUndefined();
    const afterSend = await list("UPDATED_AT_DESC");
    expect(afterSend.map(({ id }) => id)).toEqual([older, newer]);
    // The default order is still by creation.
    expect((await list()).map(({ id }) => id)).toEqual([newer, older]);

    const client = wsClient((await app.listen()).wsUrl, token);
    const { reply, streamCursor } = sent.data!.sendMessage;
    const events = await collectReply(client, { sessionId: older, after: streamCursor }, reply.id);
    await client.dispose();
    expect(events.at(-1)?.__typename).toBe("MessageCompleted");
    const afterReply = await list("UPDATED_AT_DESC");
    expect(afterReply.map(({ id }) => id)).toEqual([older, newer]);
    expect(Date.parse(afterReply[0]!.updatedAt)).toBeGreaterThan(Date.parse(afterSend[0]!.updatedAt));
  });

  it("validates session names, naming the field, and stores nothing", async () => {
    const { token } = await signUp(app);
    const empty = await graphql(
      app,
      `mutation { createSession(input: { name: "   " }) { session { id } } }`,
      {},
      token,
    );
    expect(empty.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.name" });
    const listed = await graphql(app, `{ me { sessions { totalCount } } }`, {}, token);
    expect(listed.data.me.sessions.totalCount).toBe(0);
  });

  it("refuses anonymous callers with UNAUTHENTICATED", async () => {
    const result = await graphql(app, `mutation { createSession(input: {}) { session { id } } }`);
    expect(result.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });
});

describe("ownership: someone else's ids look exactly like unknown ones", () => {
  it("hides another user's session, messages and user on every path", async () => {
    const owner = await signUp(app);
    const intruder = await signUp(app);
    const sessionId = await createSession(app, owner.token, "Private");
    const sent = await graphql(app, SEND, { input: { sessionId, content: "my secret" } }, owner.token);
    const messageId = sent.data.sendMessage.message.id;

    // A well-formed id that never existed: the reference answer for "unknown".
    const unknownSessionId = await createSession(app, owner.token);
    await graphql(app, DELETE, { input: { sessionId: unknownSessionId } }, owner.token);

    for (const id of [sessionId, unknownSessionId]) {
      const read = await graphql(app, SESSION, { id }, intruder.token);
      expect(read.data).toEqual({ session: null });
      expect(read.errors?.map((e) => e.extensions?.code)).toEqual(["NOT_FOUND"]);
      for (const mutation of [
        [RENAME, { sessionId: id, name: "pwned" }],
        [DELETE, { sessionId: id }],
        [SEND, { sessionId: id, content: "injected" }],
      ] as const) {
        const result = await graphql(app, mutation[0], { input: mutation[1] }, intruder.token);
        expect(result.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
        expect(result.errors?.[0]?.message).toBe("Session not found");
      }
    }
    for (const id of [sessionId, messageId, owner.userId]) {
      const viaNode = await graphql(app, NODE, { id }, intruder.token);
      expect(viaNode).toMatchObject({ data: { node: null } });
      expect(viaNode.errors).toBeUndefined();
    }

    // The owner still sees everything, untouched.
    const mine = await graphql(app, SESSION, { id: sessionId }, owner.token);
    expect(mine.data.session.name).toBe("Private");
    expect(mine.data.session.messages.edges.map((e: any) => e.node.id)).toContain(messageId);
    const ownNode = await graphql(app, NODE, { id: messageId }, owner.token);
    expect(ownNode.data.node).toMatchObject({ __typename: "Message", content: "my secret" });

    // Subscriptions to a foreign session are refused the same way.
    const client = wsClient((await app.listen()).wsUrl, intruder.token);
    const first = await firstSubscriptionResult(client, { query: MESSAGE_STREAM, variables: { sessionId } });
    expect(first.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    await client.dispose();
  });

  it("rejects an id of the wrong type or a malformed id as bad input", async () => {
    const user = await signUp(app);
    const sessionId = await createSession(app, user.token);
    const sent = await graphql(app, SEND, { input: { sessionId, content: "hi" } }, user.token);
    for (const id of [sent.data.sendMessage.message.id, "%%%not-base64", ""]) {
      const result = await graphql(app, SESSION, { id }, user.token);
      expect(result.errors?.[0]?.extensions?.code, `id ${id}`).toBe("BAD_USER_INPUT");
    }
  });
});
