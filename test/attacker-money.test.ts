// Attacks on the money: model calls nobody pays for, parallel sends past a nearly spent quota, and the second
// model call per reply (memory extraction) that went around the quota and the model path. Every model call is
// charged as it ends; admission reserves before the run; extraction is metered like any other call.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CancelGenerationDocument,
  MyUsageWithReservationsDocument,
  ReplyAccountingDocument,
  SendMessageDocument,
  SessionMessageCountDocument,
} from "./generated/graphql.ts";
import {
  collectReply,
  createSession,
  graphql,
  sendAndCollectReply,
  signUp,
  wsClient,
  type SignedUpUser,
  type StreamEvent,
} from "./support/clients.ts";
import {
  FAKE_USAGE,
  startFakeOpenAI,
  type FakeOpenAI,
  type FakeRequest,
  type FakeStep,
} from "./support/fake-openai.ts";
import { startFakeSearch, type FakeSearch } from "./support/fake-search.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const DAILY_LIMIT = 120;
const MAX_CONCURRENT_REPLIES = 2;
/** What the fake charges for one request: its prompt tokens, and one completion token per token or tool call. */
const TOOL_CALL_COST = FAKE_USAGE.prompt_tokens + 1;
const REPLY_COST = FAKE_USAGE.prompt_tokens + FAKE_USAGE.completion_tokens;

let fake: FakeOpenAI;
let search: FakeSearch;
let app: TestApp;
beforeAll(async () => {
  [fake, search] = await Promise.all([startFakeOpenAI(), startFakeSearch()]);
  app = await startTestApp({
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.baseUrl,
    LLM_MODEL: "money-model",
    LLM_MAX_RETRIES: "1",
    WEB_SEARCH_PROVIDER: "duckduckgo",
    WEB_SEARCH_URL: search.url,
    TOOL_TIMEOUT_MS: "20000",
    LLM_DAILY_TOKEN_LIMIT: String(DAILY_LIMIT),
    MAX_CONCURRENT_REPLIES_PER_USER: String(MAX_CONCURRENT_REPLIES),
  });
});
afterAll(async () => {
  await app?.cleanup();
  await Promise.all([fake?.close(), search?.close()]);
});

/** A unique marker for one conversation, and the fake model's answers to the requests that mention it. */
function conversation(label: string, steps: FakeStep[]): string {
  const marker = `${label} ${randomUUID()}`;
  fake.planFor(marker, steps);
  return marker;
}

async function usage(user: SignedUpUser) {
  const result = await graphql(app.graphqlUrl, MyUsageWithReservationsDocument, {}, user.token);
  expect(result.errors).toBeUndefined();
  return result.data!.me!.usage;
}

/** A send whose refusal or reply the test reads itself. */
async function send(user: SignedUpUser, sessionId: string, content: string) {
  return graphql(app.graphqlUrl, SendMessageDocument, { input: { sessionId, content } }, user.token);
}

/** The agent's requests for one conversation, found by its unique user message (extraction requests carry no tools). */
const agentRequests = (marker: string) =>
  fake.requests.filter((request) => (request.tools?.length ?? 0) > 0 && mentions(request, marker));
const extractionRequests = (marker: string) =>
  fake.requests.filter((request) => (request.tools?.length ?? 0) === 0 && mentions(request, marker));
const mentions = (request: FakeRequest, marker: string) =>
  request.messages.some((m) => String(m.content).includes(marker));

describe("every model call is charged, whatever ends the run", () => {
  it("a cancel right after a tool call still pays for the call that asked for the tool", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const marker = conversation("look it up", [
      { kind: "toolCall", calls: [{ name: "web_search", args: { query: "[slow] anything" } }] },
    ]);
    const sent = await send(user, sessionId, marker);
    const { reply, streamCursor } = sent.data!.sendMessage;
    const client = wsClient(app.wsUrl, user.token);
    const events: StreamEvent[] = [];
    try {
      const subscription = client.iterate<{ messageStream: StreamEvent }>({
        query: `subscription($sessionId: ID!, $after: String) { messageStream(sessionId: $sessionId, after: $after) { __typename messageId } }`,
        variables: { sessionId, after: streamCursor },
      });
      for await (const result of subscription) {
        const event = result.data!.messageStream;
        events.push(event);
        if (event.__typename === "ToolCallStarted") {
          await graphql(app.graphqlUrl, CancelGenerationDocument, { input: { sessionId } }, user.token);
        }
        if (event.__typename === "MessageCancelled") break;
      }
    } finally {
      await client.dispose();
    }
    expect(events.map((e) => e.__typename)).toEqual(["ToolCallStarted", "MessageCancelled"]);
    expect((await graphql(app.graphqlUrl, ReplyAccountingDocument, { id: reply.id }, user.token)).data!.node).toEqual({
      status: "CANCELLED",
      errorCode: null,
      inputTokens: FAKE_USAGE.prompt_tokens,
      outputTokens: 1,
    });
    expect(await usage(user)).toMatchObject({ tokensUsed: TOOL_CALL_COST, tokensReserved: 0 });
  });

  it("a provider 400 after a tool round still pays for the round", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const marker = conversation("what time", [
      { kind: "toolCall", calls: [{ name: "current_time", args: { timeZone: "UTC" } }] },
      { kind: "status", status: 400 },
    ]);
    const { events } = await sendAndCollectReply(app, user, { sessionId, content: marker });
    expect(events.at(-1)?.__typename).toBe("MessageFailed");
    expect(agentRequests(marker)).toHaveLength(2);
    expect(await usage(user)).toMatchObject({ tokensUsed: TOOL_CALL_COST, tokensReserved: 0 });
  });

  it("a run that keeps calling tools stops before the model call that would spend past the day's quota", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const toolRound: FakeStep = { kind: "toolCall", calls: [{ name: "current_time", args: { timeZone: "UTC" } }] };
    const marker = conversation(
      "loop",
      Array.from({ length: 8 }, () => toolRound),
    );
    const { events, reply } = await sendAndCollectReply(app, user, { sessionId, content: marker });
    // 43 + 43 = 86 < 120 lets a third call start; 129 stops the fourth before it is sent.
    const calls = Math.ceil(DAILY_LIMIT / TOOL_CALL_COST);
    expect(agentRequests(marker)).toHaveLength(calls);
    expect(events.at(-1)).toMatchObject({ __typename: "MessageFailed", code: "QUOTA_EXCEEDED" });
    expect(
      (await graphql(app.graphqlUrl, ReplyAccountingDocument, { id: reply.id }, user.token)).data!.node,
    ).toMatchObject({
      status: "FAILED",
      errorCode: "QUOTA_EXCEEDED",
    });
    expect(await usage(user)).toMatchObject({
      tokensUsed: calls * TOOL_CALL_COST,
      tokensReserved: 0,
      tokensRemaining: 0,
    });
  });
});

describe("admission: reserve before the run, settle after", () => {
  it("parallel sends cannot all pass a nearly spent quota: one is admitted, the rest are QUOTA_EXCEEDED and store nothing", async () => {
    const user = await signUp(app.graphqlUrl);
    const first = await createSession(app.graphqlUrl, user.token);
    await sendAndCollectReply(app, user, {
      sessionId: first,
      content: conversation("hello", [{ kind: "reply" }, { kind: "reply" }]),
    }); // reply, extraction
    await app.memories.idle();
    expect(await usage(user)).toMatchObject({ tokensUsed: 2 * REPLY_COST, tokensReserved: 0 });

    const slow: FakeStep = { kind: "reply", tokenDelayMs: 100 };
    const sessions = await Promise.all(Array.from({ length: 5 }, () => createSession(app.graphqlUrl, user.token)));
    const results = await Promise.all(
      sessions.map((sessionId) => send(user, sessionId, conversation("parallel", [slow, slow]))),
    );
    const admitted = results.filter((result) => !result.errors);
    const refused = results.filter((result) => result.errors);
    expect(admitted).toHaveLength(1);
    for (const result of refused) {
      expect(result.errors?.[0]?.extensions).toMatchObject({
        code: "QUOTA_EXCEEDED",
        tokensUsed: 2 * REPLY_COST,
        tokenLimit: DAILY_LIMIT,
      });
    }
    // The admitted reply holds what was left; the refused sends stored nothing.
    expect(await usage(user)).toMatchObject({ tokensReserved: DAILY_LIMIT - 2 * REPLY_COST, tokensRemaining: 0 });
    const counts = await Promise.all(
      sessions.map((id) => graphql(app.graphqlUrl, SessionMessageCountDocument, { id }, user.token)),
    );
    expect(counts.map((count) => count.data!.session!.messages.totalCount).sort()).toEqual([0, 0, 0, 0, 2]);
    await app.memories.idle();
  });

  it(`caps the replies one user has running at ${MAX_CONCURRENT_REPLIES}: the next is REPLY_LIMIT_EXCEEDED and stores nothing`, async () => {
    // A quota large enough that only the cap can refuse.
    const roomy = await startTestApp({
      OPENAI_API_KEY: "sk-test",
      OPENAI_BASE_URL: fake.baseUrl,
      LLM_MODEL: "money-model",
      MAX_CONCURRENT_REPLIES_PER_USER: String(MAX_CONCURRENT_REPLIES),
    });
    try {
      const user = await signUp(roomy.graphqlUrl);
      const slow: FakeStep = {
        kind: "reply",
        tokens: Array.from({ length: 10 }, (_, i) => `t${i} `),
        tokenDelayMs: 100,
      };
      const sessions = await Promise.all(Array.from({ length: 3 }, () => createSession(roomy.graphqlUrl, user.token)));
      const running = [];
      for (const sessionId of sessions.slice(0, MAX_CONCURRENT_REPLIES)) {
        const sent = await graphql(
          roomy.graphqlUrl,
          SendMessageDocument,
          { input: { sessionId, content: conversation("busy", [slow]) } },
          user.token,
        );
        expect(sent.errors).toBeUndefined();
        running.push({ sessionId, ...sent.data!.sendMessage });
      }
      const third = await graphql(
        roomy.graphqlUrl,
        SendMessageDocument,
        { input: { sessionId: sessions[2], content: "one too many" } },
        user.token,
      );
      expect(third.data ?? null).toBeNull();
      expect(third.errors?.[0]?.extensions).toMatchObject({
        code: "REPLY_LIMIT_EXCEEDED",
        limit: MAX_CONCURRENT_REPLIES,
        activeReplies: 2,
      });
      expect(
        (await graphql(roomy.graphqlUrl, SessionMessageCountDocument, { id: sessions[2] }, user.token)).data!.session!
          .messages.totalCount,
      ).toBe(0);

      // Once a reply ends, its slot is free again.
      const client = wsClient(roomy.wsUrl, user.token);
      await collectReply(
        client,
        { sessionId: running[0]!.sessionId, after: running[0]!.streamCursor },
        running[0]!.reply.id,
      );
      await client.dispose();
      const again = await graphql(
        roomy.graphqlUrl,
        SendMessageDocument,
        { input: { sessionId: sessions[2], content: "now there is room" } },
        user.token,
      );
      expect(again.errors).toBeUndefined();
    } finally {
      await roomy.cleanup();
    }
  });
});

describe("memory extraction is a model call like any other", () => {
  it("goes through retries (and the breaker, fallbacks and metrics) and is charged to the user", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const marker = conversation("I live in Oslo", [
      { kind: "reply" },
      { kind: "status", status: 500 },
      { kind: "reply" },
    ]);
    await sendAndCollectReply(app, user, { sessionId, content: marker });
    await app.memories.idle();
    // The first extraction attempt failed with 500 and was retried, as replies are.
    expect(extractionRequests(marker)).toHaveLength(2);
    expect(app.memories.stats().failed).toBe(0);
    expect(await usage(user)).toMatchObject({ tokensUsed: 2 * REPLY_COST });
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/agent_model_retries_total\{model="money-model"\} [1-9]/);
  });

  it("is not made once the user's quota is spent", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const client = wsClient(app.wsUrl, user.token);
    await sendAndCollectReply(
      app,
      user,
      { sessionId, content: conversation("first", [{ kind: "reply" }, { kind: "reply" }]) },
      { client },
    );
    await app.memories.idle();
    expect((await usage(user)).tokensUsed).toBe(2 * REPLY_COST);

    const marker = conversation("second", [{ kind: "reply" }]);
    await sendAndCollectReply(app, user, { sessionId, content: marker }, { client });
    await client.dispose();
    await app.memories.idle();
    // 3 × 49 = 147 ≥ 120: the reply finished past the limit (it was admitted), but no extraction call followed.
    expect((await usage(user)).tokensUsed).toBe(3 * REPLY_COST);
    expect(extractionRequests(marker)).toHaveLength(0);
    expect(app.memories.stats().skipped).toBeGreaterThan(0);
  });
});
