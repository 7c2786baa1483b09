import { afterAll, describe, expect, it } from "vitest";
import {
  collectReply,
  createSession,
  graphql,
  signUp,
  wsClient,
  MESSAGE_STREAM,
  type StreamEvent,
} from "./support/clients.ts";
import { startServerProcess } from "./support/server-process.ts";
import { testEnvironment } from "./support/test-app.ts";

const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } reply { id } streamCursor } }`;
const HISTORY = `query($id: ID!) { session(id: $id) { messages(first: 50) { edges { node { id role content status errorCode } } } } }`;

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe("a server killed with SIGKILL", () => {
  it("keeps every stored message and shows the cut-off reply as INTERRUPTED after a restart past its lease", {
    timeout: 120_000,
  }, async () => {
    // A slow dev model, so the kill lands mid-reply; a short lease, so the restarted instance finds it run out.
    const environment = await testEnvironment({ DEV_MODEL_TOKEN_DELAY_MS: "40", REPLY_LEASE_MS: "1000" });
    cleanups.push(environment.cleanup);
    const first = await startServerProcess(environment.env);
    cleanups.push(async () => first.child.kill("SIGKILL"));
    const graphqlUrl = `${first.url}/graphql`;
    const wsUrl = graphqlUrl.replace("http", "ws");

    const user = await signUp(graphqlUrl);
    const sessionId = await createSession(graphqlUrl, user.token);
    const client = wsClient(wsUrl, user.token);
    const done = await graphql(graphqlUrl, SEND, { input: { sessionId, content: "first, finished" } }, user.token);
    const finished = await collectReply(
      client,
      { sessionId, after: done.data.sendMessage.streamCursor },
      done.data.sendMessage.reply.id,
    );
    expect(finished.at(-1)!.__typename).toBe("MessageCompleted");

    const cut = await graphql(graphqlUrl, SEND, { input: { sessionId, content: "second, cut off" } }, user.token);
    const replyId = cut.data.sendMessage.reply.id;
    const received: StreamEvent[] = [];
    // Read deltas for a while (past the 1 s partial-flush interval), then kill the process mid-stream.
    await new Promise<void>((resolve, reject) => {
      client.subscribe<{ messageStream: StreamEvent }>(
        { query: MESSAGE_STREAM, variables: { sessionId, after: cut.data.sendMessage.streamCursor } },
        {
          next: ({ data }) => {
            const event = data?.messageStream;
            if (event && event.messageId === replyId) received.push(event);
            if (received.length === 30) resolve();
          },
          error: () => undefined,
          complete: () => reject(new Error("stream completed before the kill")),
        },
      );
    });
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    await client.dispose();
    expect(received.every((e) => e.__typename === "MessageDelta")).toBe(true);

    const second = await startServerProcess(environment.env);
    cleanups.push(async () => second.child.kill("SIGKILL"));
    const history = await graphql(`${second.url}/graphql`, HISTORY, { id: sessionId }, user.token);
    const nodes = history.data.session.messages.edges.map((e: any) => e.node);
    expect(nodes.map((n: any) => [n.role, n.status])).toEqual([
      ["USER", "COMPLETE"],
      ["ASSISTANT", "COMPLETE"],
      ["USER", "COMPLETE"],
      ["ASSISTANT", "INTERRUPTED"],
    ]);
    expect(nodes[0].content).toBe("first, finished");
    expect(nodes[1].content).toBe(finished.at(-1)!.message!.content);
    expect(nodes[2].content).toBe("second, cut off");
    expect(nodes[3]).toMatchObject({ id: replyId, errorCode: "INTERRUPTED" });
    // What was streamed before the kill is kept: the event log's text with Redis (every delta published, so the
    // client's text is a prefix of it), else what was flushed (a prefix of the client's text).
    const streamed = received.map((e) => e.delta).join("");
    expect(nodes[3].content.length).toBeGreaterThan(0);
    expect(streamed.startsWith(nodes[3].content) || nodes[3].content.startsWith(streamed)).toBe(true);

    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });
});
