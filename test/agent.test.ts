// The agent end to end against a local OpenAI-compatible fake and a local search provider: tools, fallbacks,
// restarts, cancel. Nothing here reaches the internet.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CancelGenerationDocument,
  ReplyWithToolCallsDocument,
  SendMessageDocument,
  SessionHistoryDocument,
} from "./generated/graphql.ts";
import {
  createSession,
  graphql,
  MESSAGE_STREAM,
  sendAndCollectReply,
  signUp,
  wsClient,
  type StreamEvent,
} from "./support/clients.ts";
import { FAKE_REPLY_TOKENS, startFakeOpenAI, type FakeOpenAI } from "./support/fake-openai.ts";
import { FAKE_RESULT, startFakeSearch, type FakeSearch } from "./support/fake-search.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

let fake: FakeOpenAI;
let search: FakeSearch;
let app: TestApp;
beforeAll(async () => {
  [fake, search] = await Promise.all([startFakeOpenAI(), startFakeSearch()]);
  app = await startTestApp({
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.baseUrl,
    LLM_MODEL: "primary-model",
    LLM_FALLBACK_MODELS: "fallback-model",
    LLM_MAX_RETRIES: "1",
    LLM_TIMEOUT_MS: "1500",
    WEB_SEARCH_PROVIDER: "duckduckgo",
    WEB_SEARCH_URL: search.url,
    TOOL_TIMEOUT_MS: "1000",
  });
});
afterAll(async () => {
  await app?.cleanup();
  await Promise.all([fake?.close(), search?.close()]);
});

async function converse(content: string, user?: Awaited<ReturnType<typeof signUp>>) {
  user ??= await signUp(app.graphqlUrl);
  const sessionId = await createSession(app.graphqlUrl, user.token);
  const { reply, events } = await sendAndCollectReply(app, user, { sessionId, content }, { timeoutMs: 30_000 });
  const stored = (await graphql(app.graphqlUrl, ReplyWithToolCallsDocument, { id: reply.id }, user.token)).data!.node!;
  return { events, stored, user, sessionId };
}

/** Memory extraction after a reply calls the same fake model: let it finish so it cannot take a planned answer. */
async function plan(model: string, steps: Parameters<FakeOpenAI["plan"]>[1]) {
  await app.memories.idle();
  fake.plan(model, steps);
}

const types = (events: StreamEvent[]) => [...new Set(events.map((e) => e.__typename))];

describe("tools", () => {
  it("runs a web search the model asked for, streams it, keeps it with the reply, and answers from it", async () => {
    await plan("primary-model", [
      { kind: "toolCall", calls: [{ name: "web_search", args: { query: "graphql-ws protocol" } }] },
      { kind: "echo" },
    ]);
    const { events, stored } = await converse("What is graphql-ws?");
    expect(types(events)).toEqual(["ToolCallStarted", "ToolCallFinished", "MessageDelta", "MessageCompleted"]);
    const started = events.find((e) => e.__typename === "ToolCallStarted")!;
    const finished = events.find((e) => e.__typename === "ToolCallFinished")!;
    expect(started).toMatchObject({ name: "web_search", arguments: { query: "graphql-ws protocol" } });
    expect(finished).toMatchObject({ toolCallId: started.toolCallId, name: "web_search", isError: false });
    expect(finished.result).toContain(FAKE_RESULT.url);
    expect(search.queries).toContain("graphql-ws protocol");
    // The model got the result back as a tool message tied to its call, with the tools bound.
    // (Memory extraction also calls the model after a reply, without tools: find the agent's own requests.)
    const followUp = fake.requests.findLast((request) => request.messages.some((m) => m.role === "tool"))!;
    expect(followUp.messages.at(-1)).toMatchObject({ role: "tool", tool_call_id: started.toolCallId });
    expect(followUp.tools?.map((t) => t.function.name).sort()).toEqual(["current_time", "web_search"]);
    expect(stored.content).toContain(FAKE_RESULT.title);
    expect(stored.toolCalls).toEqual([
      expect.objectContaining({
        toolCallId: started.toolCallId,
        name: "web_search",
        result: finished.result,
        isError: false,
      }),
    ]);
  });

  it("hands a failing or slow tool's error to the model as a result instead of failing the reply", async () => {
    await plan("primary-model", [
      {
        kind: "toolCall",
        calls: [
          { name: "web_search", args: { query: "[broken] news" } },
          { name: "web_search", args: { query: "[slow] news" } },
          { name: "current_time", args: { timeZone: "Mars/Olympus_Mons" } },
          { name: "no_such_tool", args: {} },
        ],
      },
      { kind: "reply", tokens: ["Sorry,", " the tools failed."] },
    ]);
    const { events, stored } = await converse("Any news?");
    const finished = events.filter((e) => e.__typename === "ToolCallFinished");
    expect(finished).toHaveLength(4);
    expect(finished.every((e) => e.isError && e.result!.startsWith("Error:"))).toBe(true);
    // Each call's result, found through its ToolCallStarted (ToolCallFinished carries no arguments).
    const resultOf = (name: string, args: Record<string, unknown>) => {
      const call = events.find(
        (e) =>
          e.__typename === "ToolCallStarted" && e.name === name && JSON.stringify(e.arguments) === JSON.stringify(args),
      );
      expect(call, `${name} ${JSON.stringify(args)} started`).toBeDefined();
      return finished.find((e) => e.toolCallId === call!.toolCallId)?.result;
    };
    expect(resultOf("web_search", { query: "[slow] news" })).toBe("Error: web_search failed: timed out after 1000 ms");
    expect(resultOf("web_search", { query: "[broken] news" })).not.toContain("timed out");
    expect(resultOf("current_time", { timeZone: "Mars/Olympus_Mons" })).toContain(
      'unknown time zone "Mars/Olympus_Mons"',
    );
    expect(resultOf("no_such_tool", {})).toBe('Error: there is no tool named "no_such_tool".');
    expect(stored).toMatchObject({ status: "COMPLETE", content: "Sorry, the tools failed." });
    expect(stored.toolCalls).toHaveLength(4);
  });

  it("answers the time in a zone with the current_time tool", async () => {
    await plan("primary-model", [
      { kind: "toolCall", calls: [{ name: "current_time", args: { timeZone: "Asia/Tokyo" } }] },
      { kind: "echo" },
    ]);
    const { stored } = await converse("What time is it in Tokyo?");
    expect(stored.toolCalls[0]).toMatchObject({ name: "current_time", isError: false });
    expect(stored.toolCalls[0]!.result).toContain("Asia/Tokyo");
    expect(stored.content).toContain("Asia/Tokyo");
  });
});

describe("model failures", () => {
  it("falls back to the next model when the primary keeps failing, with tools bound there too", async () => {
    await plan("primary-model", [
      { kind: "status", status: 500 },
      { kind: "status", status: 503 },
    ]);
    const { events, stored } = await converse("Hello?");
    expect(events.at(-1)!.__typename).toBe("MessageCompleted");
    expect(stored).toMatchObject({ status: "COMPLETE", model: "fallback-model", content: FAKE_REPLY_TOKENS.join("") });
    const last = fake.requests.findLast((request) => (request.tools?.length ?? 0) > 0)!;
    expect(last.model).toBe("fallback-model");
    expect(last.tools?.length).toBe(2);
  });

  it("starts over after a stream breaks mid-reply, telling the client to discard the partial text", async () => {
    await plan("primary-model", [{ kind: "cut", afterTokens: 3 }]);
    const { events, stored } = await converse("Tell me something");
    const restart = events.findIndex((e) => e.__typename === "MessageRestarted");
    expect(restart).toBeGreaterThan(0);
    // Three tokens before the cut (merged into one delta when they are replayed to this late subscriber).
    const before = events
      .slice(0, restart)
      .filter((e) => e.__typename === "MessageDelta")
      .map((e) => e.delta)
      .join("");
    expect(before).toBe(FAKE_REPLY_TOKENS.slice(0, 3).join(""));
    const after = events
      .slice(restart + 1)
      .filter((e) => e.__typename === "MessageDelta")
      .map((e) => e.delta)
      .join("");
    expect(after).toBe(stored.content);
    expect(stored).toMatchObject({ status: "COMPLETE", content: FAKE_REPLY_TOKENS.join("") });
  });

  it("ends with LLM_UNAVAILABLE when no model can answer, keeping the user's message", async () => {
    // LLM_MAX_RETRIES=1: two attempts per model.
    const failing = Array.from({ length: 2 }, () => ({ kind: "status" as const, status: 500 }));
    await plan("primary-model", failing);
    await plan("fallback-model", failing);
    const { events, stored, user, sessionId } = await converse("Anyone there?");
    expect(events.at(-1)).toMatchObject({ __typename: "MessageFailed", code: "LLM_UNAVAILABLE" });
    expect(stored).toMatchObject({ status: "FAILED", errorCode: "LLM_UNAVAILABLE" });
    const history = await graphql(app.graphqlUrl, SessionHistoryDocument, { id: sessionId }, user.token);
    const { role, content } = history.data!.session!.messages.edges[0]!.node;
    expect({ role, content }).toEqual({ role: "USER", content: "Anyone there?" });
  });
});

describe("cancelGeneration", () => {
  it("stops a streaming reply within a second, keeping its partial text as CANCELLED", async () => {
    await plan("primary-model", [
      { kind: "reply", tokens: Array.from({ length: 100 }, (_, i) => `w${i} `), tokenDelayMs: 50 },
    ]);
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    // Sent and followed by hand: the test cancels while it reads the stream.
    const input = { sessionId, content: "Talk for a while" };
    const sent = await graphql(app.graphqlUrl, SendMessageDocument, { input }, user.token);
    const { reply, streamCursor } = sent.data!.sendMessage;
    const client = wsClient(app.wsUrl, user.token);
    const events: StreamEvent[] = [];
    let deltasAtCancel = -1;
    for await (const result of client.iterate<{ messageStream: StreamEvent }>({
      query: MESSAGE_STREAM,
      variables: { sessionId, after: streamCursor },
    })) {
      const event = result.data!.messageStream;
      events.push(event);
      if (events.length === 3) {
        const cancelled = await graphql(app.graphqlUrl, CancelGenerationDocument, { input: { sessionId } }, user.token);
        expect(cancelled.data).toEqual({ cancelGeneration: { cancelledReplies: 1 } });
        deltasAtCancel = events.length;
      }
      if (event.__typename !== "MessageDelta") break;
    }
    await client.dispose();
    // Tokens come every 50 ms: fewer than 20 more after the cancel means it stopped within a second.
    expect(deltasAtCancel).toBe(3);
    expect(events.length - deltasAtCancel).toBeLessThan(20);
    const final = events.at(-1)!;
    expect(final.__typename).toBe("MessageCancelled");
    const streamed = events
      .filter((e) => e.__typename === "MessageDelta")
      .map((e) => e.delta)
      .join("");
    expect(final.message).toMatchObject({ id: reply.id, status: "CANCELLED", content: streamed });
    expect(streamed.split(" ").length).toBeLessThan(50);
    // Nothing left to stop: not an error.
    const again = await graphql(app.graphqlUrl, CancelGenerationDocument, { input: { sessionId } }, user.token);
    expect(again.data).toEqual({ cancelGeneration: { cancelledReplies: 0 } });
  });

  it("refuses another user's session with NOT_FOUND", async () => {
    const owner = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, owner.token);
    const stranger = await signUp(app.graphqlUrl);
    const result = await graphql(app.graphqlUrl, CancelGenerationDocument, { input: { sessionId } }, stranger.token);
    expect(result.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });
});
