// SEND_WHILE_STREAMING=queue: sends during a streaming reply are accepted and answered in order, each once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SendMessageDocument, SessionHistoryDocument } from "./generated/graphql.ts";
import { collectReply, createSession, graphql, signUp, wsClient } from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ SEND_WHILE_STREAMING: "queue" });
});
afterAll(async () => {
  await app?.cleanup();
});

describe("queued sends", () => {
  it("answers every message of concurrent sends once, in order, each reply seeing the ones before", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const contents = Array.from({ length: 5 }, (_, i) => `queued message ${i}`);
    const results = await Promise.all(
      contents.map((content) =>
        graphql(app.graphqlUrl, SendMessageDocument, { input: { sessionId, content } }, user.token),
      ),
    );
    expect(results.map((r) => r.errors)).toEqual(contents.map(() => undefined));
    const client = wsClient(app.wsUrl, user.token);
    const cursor = results.map((r) => r.data!.sendMessage.streamCursor).sort()[0];
    for (const r of results) {
      const events = await collectReply(client, { sessionId, after: cursor }, r.data!.sendMessage.reply.id);
      expect(events.at(-1)!.__typename).toBe("MessageCompleted");
    }
    await client.dispose();

    const history = await graphql(app.graphqlUrl, SessionHistoryDocument, { id: sessionId, last: 100 }, user.token);
    const nodes = history.data!.session!.messages.edges.map((e) => e.node);
    expect(nodes).toHaveLength(10);
    expect(nodes.every((n) => n.status === "COMPLETE")).toBe(true);
    // Replies ran one after another: the dev model counts the user turns it was shown, and the last reply saw
    // all five user messages plus the four replies before it.
    const replies = nodes.filter((n) => n.role === "ASSISTANT").map((n) => n.content);
    const turnsSeen = replies.map((content) => Number(/turn (\d+) of this conversation/.exec(content)?.[1]));
    expect(turnsSeen.sort()).toEqual([1, 2, 3, 4, 5]);
  });
});
