import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  collectReply,
  createSession,
  firstSubscriptionResult,
  graphql,
  signUp,
  wsClient,
  MESSAGE_STREAM,
  type StreamEvent,
} from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const SEND = `mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { message { id role content status } reply { id role status } streamCursor }
}`;
const HISTORY = `query($id: ID!) { session(id: $id) { messages(first: 100) { totalCount edges { node { id role content status model } } } } }`;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.cleanup();
});

function expectWellFormedReply(events: StreamEvent[], replyId: string) {
  const deltas = events.filter((e) => e.__typename === "MessageDelta");
  const last = events.at(-1)!;
  // At least one: a subscriber that comes late gets what was already published as one merged delta (a replay).
  expect(deltas.length).toBeGreaterThanOrEqual(1);
  expect(last.__typename).toBe("MessageCompleted");
  expect(events.every((e) => e.messageId === replyId)).toBe(true);
  expect(last.message!.id).toBe(replyId);
  expect(last.message!.content).toBe(deltas.map((e) => e.delta).join(""));
  expect(last.message).toMatchObject({ role: "ASSISTANT", status: "COMPLETE", model: "offline-dev-model" });
  return last.message!;
}

describe("sendMessage and messageStream", () => {
  it("streams a reply token by token to a graphql-ws subscriber and stores it", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const content = "Explain <script>alert('x')</script> & `code` \"quotes\"\n\ttabs — ünïcødé 🚀";
    const sent = await graphql(app.graphqlUrl, SEND, { input: { sessionId, content } }, user.token);
    expect(sent.errors).toBeUndefined();
    const { message, reply, streamCursor } = sent.data.sendMessage;
    expect(message).toMatchObject({ role: "USER", content, status: "COMPLETE" });
    expect(reply).toMatchObject({ role: "ASSISTANT", status: "STREAMING" });

    const client = wsClient(app.wsUrl, user.token);
    const events = await collectReply(client, { sessionId, after: streamCursor }, reply.id);
    await client.dispose();
    const stored = expectWellFormedReply(events, reply.id);
    expect(stored.content).toContain("offline dev model");
    expect(stored.content).toContain(content.replace(/\s+/g, " "));

    const history = await graphql(app.graphqlUrl, HISTORY, { id: sessionId }, user.token);
    const nodes = history.data.session.messages.edges.map((e: any) => e.node);
    expect(nodes.map((n: any) => [n.id, n.role, n.status])).toEqual([
      [message.id, "USER", "COMPLETE"],
      [reply.id, "ASSISTANT", "COMPLETE"],
    ]);
    expect(nodes[0].content).toBe(content);
    expect(nodes[1].content).toBe(stored.content);
  });

  it("delivers live events to a subscriber that was listening before the send", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const client = wsClient(app.wsUrl, user.token);
    const events: StreamEvent[] = [];
    const done = new Promise<void>((resolve, reject) => {
      client.subscribe<{ messageStream: StreamEvent }>(
        { query: MESSAGE_STREAM, variables: { sessionId } },
        {
          next: (result) => {
            if (result.errors) return reject(new Error(JSON.stringify(result.errors)));
            events.push(result.data!.messageStream);
            if (result.data!.messageStream.__typename !== "MessageDelta") resolve();
          },
          error: reject,
          complete: () => resolve(),
        },
      );
    });
    // The UI case: the chat view subscribes when it opens, the user types afterwards.
    await sleep(300);
    const sent = await graphql(app.graphqlUrl, SEND, { input: { sessionId, content: "hello" } }, user.token);
    await done;
    await client.dispose();
    expectWellFormedReply(events, sent.data.sendMessage.reply.id);
    // Listening from the start: every token came live, as its own delta.
    expect(events.filter((e) => e.__typename === "MessageDelta").length).toBeGreaterThan(2);
  });

  it("streams over Yoga's SSE transport too", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const sent = await graphql(app.graphqlUrl, SEND, { input: { sessionId, content: "over SSE" } }, user.token);
    const { reply, streamCursor } = sent.data.sendMessage;
    const url = new URL(app.graphqlUrl);
    url.searchParams.set("query", MESSAGE_STREAM);
    url.searchParams.set("variables", JSON.stringify({ sessionId, after: streamCursor }));
    const response = await fetch(url, {
      headers: { accept: "text/event-stream", authorization: `Bearer ${user.token}`, "x-graphql-yoga-csrf": "1" },
    });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events: StreamEvent[] = [];
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    while (!events.some((e) => e.__typename !== "MessageDelta")) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const frames = buffer.split("\n\n");
      buffer = frames.pop()!;
      for (const frame of frames) {
        const data = frame.split("\n").find((line) => line.startsWith("data: "));
        if (frame.startsWith("event: next") && data) events.push(JSON.parse(data.slice(6)).data.messageStream);
      }
    }
    await reader.cancel();
    expectWellFormedReply(events, reply.id);
  });

  it("shows tool calls offline: the dev model asks current_time when asked the time", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const sent = await graphql(app.graphqlUrl, SEND, { input: { sessionId, content: "What time is it?" } }, user.token);
    const { reply, streamCursor } = sent.data.sendMessage;
    const client = wsClient(app.wsUrl, user.token);
    const events = await collectReply(client, { sessionId, after: streamCursor }, reply.id);
    await client.dispose();
    expect([...new Set(events.map((e) => e.__typename))]).toEqual([
      "ToolCallStarted",
      "ToolCallFinished",
      "MessageDelta",
      "MessageCompleted",
    ]);
    expect(events[0]).toMatchObject({ name: "current_time", arguments: { timeZone: "UTC" } });
    expect(events[1]).toMatchObject({ name: "current_time", isError: false });
    expect(events.at(-1)!.message!.content).toContain(`The current_time tool says: ${events[1]!.result}`);
  });

  it("refuses sends while the session's reply streams with SESSION_BUSY, storing nothing for them", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const contents = Array.from({ length: 8 }, (_, i) => `parallel message ${i}`);
    const results = await Promise.all(
      contents.map((content) => graphql(app.graphqlUrl, SEND, { input: { sessionId, content } }, user.token)),
    );
    const accepted = results.filter((r) => r.errors === undefined);
    const refused = results.filter((r) => r.errors !== undefined);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) expect(r.errors?.[0]?.extensions).toMatchObject({ code: "SESSION_BUSY" });

    const client = wsClient(app.wsUrl, user.token);
    for (const r of accepted) {
      const { reply, streamCursor } = r.data.sendMessage;
      expectWellFormedReply(await collectReply(client, { sessionId, after: streamCursor }, reply.id), reply.id);
    }
    await client.dispose();

    const history = await graphql(app.graphqlUrl, HISTORY, { id: sessionId }, user.token);
    const nodes = history.data.session.messages.edges.map((e: any) => e.node);
    expect(history.data.session.messages.totalCount).toBe(2 * accepted.length);
    expect(
      nodes
        .filter((n: any) => n.role === "USER")
        .map((n: any) => n.content)
        .sort(),
    ).toEqual(accepted.map((r) => r.data.sendMessage.message.content).sort());
  });

  it.each([
    ["empty", ""],
    ["only whitespace", "  \n\t "],
    ["a NUL byte", "hello\u0000world"],
    ["over the limit", "x".repeat(10_001)],
  ])("rejects content that is %s with BAD_USER_INPUT and stores nothing", async (_label, content) => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const result = await graphql(app.graphqlUrl, SEND, { input: { sessionId, content } }, user.token);
    expect(result.data).toBeNull();
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.content" });
    const history = await graphql(app.graphqlUrl, HISTORY, { id: sessionId }, user.token);
    expect(history.data.session.messages.totalCount).toBe(0);
  });

  it("accepts exactly MAX_MESSAGE_CHARS characters as sent, surrounding spaces included, counting emoji as one", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const content = `  ${"🚀".repeat(9_996)}  `;
    const result = await graphql(app.graphqlUrl, SEND, { input: { sessionId, content } }, user.token);
    expect(result.errors).toBeUndefined();
    expect(result.data.sendMessage.message.content).toBe(content);
  });

  it("refuses anonymous subscriptions and bad tokens on graphql-ws", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    for (const token of [undefined, "not-a-token"]) {
      const client = wsClient(app.wsUrl, token);
      const first = await firstSubscriptionResult(client, { query: MESSAGE_STREAM, variables: { sessionId } });
      expect(first.data ?? null).toBeNull();
      expect(first.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      await client.dispose();
    }
  });
});
