import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReplyUsageDocument, SessionHistoryWithModelDocument } from "./generated/graphql.ts";
import { createSession, graphql, sendAndCollectReply, signUp } from "./support/clients.ts";
import { FAKE_REPLY_TOKENS, FAKE_USAGE, startFakeOpenAI, type FakeOpenAI } from "./support/fake-openai.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

let fake: FakeOpenAI;
let app: TestApp;
beforeAll(async () => {
  fake = await startFakeOpenAI();
  app = await startTestApp({ OPENAI_API_KEY: "sk-test", OPENAI_BASE_URL: fake.baseUrl, LLM_MODEL: "fake-model" });
});
afterAll(async () => {
  await app?.cleanup();
  await fake?.close();
});

describe("with an OpenAI-compatible provider (OPENAI_API_KEY, OPENAI_BASE_URL, LLM_MODEL)", () => {
  it("streams the provider's tokens and sends it the conversation so far", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const { events: first } = await sendAndCollectReply(
      app,
      user,
      { sessionId, content: "Hi there <b>bold</b>" },
      { timeoutMs: 30_000 },
    );
    // Subscribed after sending: what was already published is replayed with its deltas merged, so compare the text.
    expect(
      first
        .filter((e) => e.__typename === "MessageDelta")
        .map((e) => e.delta)
        .join(""),
    ).toBe(FAKE_REPLY_TOKENS.join(""));
    expect(first.at(-1)!.message).toMatchObject({ content: FAKE_REPLY_TOKENS.join(""), model: "fake-model" });

    // The provider's own token counts are kept on the reply and charged to the user's day, and so is the memory
    // extraction call that follows the reply (the fake reports the same usage for it).
    await app.memories.idle();
    const usage = await graphql(app.graphqlUrl, ReplyUsageDocument, { id: first.at(-1)!.messageId }, user.token);
    expect(usage.data!.node).toEqual({
      inputTokens: FAKE_USAGE.prompt_tokens,
      outputTokens: FAKE_USAGE.completion_tokens,
    });
    expect(usage.data!.me!.usage.tokensUsed).toBe(2 * (FAKE_USAGE.prompt_tokens + FAKE_USAGE.completion_tokens));

    await sendAndCollectReply(app, user, { sessionId, content: "And again" }, { timeoutMs: 30_000 });
    // The agent's request (memory extraction also calls the model afterwards, without tools).
    const last = fake.requests.findLast((request) => (request.tools?.length ?? 0) > 0)!;
    expect(last.model).toBe("fake-model");
    expect(last.stream).toBe(true);
    // The versioned system prompt first (agent name, date, memories), then the conversation as stored.
    expect(last.messages[0]).toMatchObject({ role: "system" });
    expect(last.messages[0]!.content).toContain("Current date and time");
    expect(last.messages.slice(1)).toEqual([
      { role: "user", content: "Hi there <b>bold</b>" },
      { role: "assistant", content: FAKE_REPLY_TOKENS.join("") },
      { role: "user", content: "And again" },
    ]);
  });

  it("ends with MessageFailed when the provider keeps failing, keeping the user's message", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const { events } = await sendAndCollectReply(
      app,
      user,
      { sessionId, content: "please [fail]" },
      { timeoutMs: 30_000 },
    );
    expect(events.map((e) => e.__typename)).toEqual(["MessageFailed"]);
    // Every attempt (retries included) failed: LLM_UNAVAILABLE, and the provider's error is not leaked.
    expect(events[0]).toMatchObject({ code: "LLM_UNAVAILABLE" });
    expect(events[0]!.reason).not.toMatch(/boom|500/);

    const history = await graphql(app.graphqlUrl, SessionHistoryWithModelDocument, { id: sessionId }, user.token);
    expect(history.data!.session!.messages.edges.map((e) => e.node)).toEqual([
      { role: "USER", content: "please [fail]", status: "COMPLETE", errorCode: null, model: null },
      { role: "ASSISTANT", content: "", status: "FAILED", errorCode: "LLM_UNAVAILABLE", model: "fake-model" },
    ]);
  });
});
