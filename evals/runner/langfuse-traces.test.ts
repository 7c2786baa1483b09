// The traces --from-langfuse reads are the ones this app writes: a reply traced by the real app (exported over
// OTLP to a fake Langfuse) yields, once read as Langfuse shows a trace, the question asked and the reply stored.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replyTraceId } from "../../src/observability/tracing.ts";
import { collectReply, createSession, graphql, signUp, wsClient } from "../../test/support/clients.ts";
import { startFakeLangfuse, type FakeLangfuse } from "../../test/support/fake-langfuse.ts";
import { startTestApp, type TestApp } from "../../test/support/test-app.ts";
import { judgeInputOfTrace } from "./langfuse.ts";

const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } streamCursor } }`;

let langfuse: FakeLangfuse;
let app: TestApp;
beforeAll(async () => {
  langfuse = await startFakeLangfuse();
  app = await startTestApp({
    LANGFUSE_PUBLIC_KEY: "pk-lf-evals",
    LANGFUSE_SECRET_KEY: "sk-lf-evals",
    LANGFUSE_BASE_URL: langfuse.baseUrl,
  });
});
afterAll(async () => {
  await app?.cleanup();
  await langfuse?.close();
});

describe("a trace of this app, read by --from-langfuse", () => {
  it("gives the judge the user's question, the stored reply and the tool results", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const client = wsClient(app.wsUrl, user.token);
    const sent = await graphql(
      app.graphqlUrl,
      SEND,
      { input: { sessionId, content: "What time is it in UTC?" } },
      user.token,
    );
    const replyId = sent.data.sendMessage.reply.id as string;
    const events = await collectReply(client, { sessionId, after: sent.data.sendMessage.streamCursor }, replyId);
    await client.dispose();
    const stored = events.at(-1)!.message!.content;
    expect(stored).toContain("current_time");

    const traceId = replyTraceId(Buffer.from(replyId, "base64").toString().split(":")[1]!);
    const root = () =>
      langfuse
        .spans()
        .find(
          (span) => span.traceId === traceId && !span.parentSpanId && span.attributes["langfuse.observation.output"],
        );
    await langfuse.waitFor(() => root() !== undefined, 20_000);
    const attributes = root()!.attributes;
    // What Langfuse shows as the trace's input and output: its root observation's.
    const trace = {
      id: traceId,
      input: JSON.parse(attributes["langfuse.observation.input"]!),
      output: JSON.parse(attributes["langfuse.observation.output"]!),
    };
    const input = judgeInputOfTrace(trace);
    expect(input).toBeDefined();
    expect(input!.reply).toBe(stored);
    expect(input!.conversation.at(-2)).toEqual({ role: "user", content: "What time is it in UTC?" });
    expect(input!.toolResults.map((result) => result.name)).toEqual(["current_time"]);
    expect(stored).toContain(input!.toolResults[0]!.result);
  }, 60_000);
});
