// The agent's history is checkpointed per session (tool calls included), survives a restart, and is rebuilt
// from the stored messages whenever the two could disagree.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { createLogger } from "../src/observability/logger.ts";
import { CancelGenerationDocument } from "./generated/graphql.ts";
import { collectReply, createSession, graphql, signUp, wsClient } from "./support/clients.ts";
import { startFakeOpenAI, type FakeOpenAI, type FakeRequest } from "./support/fake-openai.ts";
import { startFakeSearch, type FakeSearch } from "./support/fake-search.ts";
import { testEnvironment } from "./support/test-app.ts";

const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } streamCursor } }`;

let fake: FakeOpenAI;
let search: FakeSearch;
let environment: Awaited<ReturnType<typeof testEnvironment>>;
let app: App;
const urls = () => ({ http: `${app.url}/graphql`, ws: `${app.url.replace("http", "ws")}/graphql` });

async function start() {
  const config = loadConfig(environment.env);
  app = await startApp(config, createLogger(config.logLevel));
}

beforeAll(async () => {
  [fake, search] = await Promise.all([startFakeOpenAI(), startFakeSearch()]);
  environment = await testEnvironment({
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.baseUrl,
    LLM_MODEL: "checkpoint-model",
    WEB_SEARCH_URL: search.url,
    TOOL_TIMEOUT_MS: "5000",
  });
  await start();
});
afterAll(async () => {
  await app?.stop({ graceMs: 1000 });
  await environment?.cleanup();
  await Promise.all([fake?.close(), search?.close()]);
});

async function turn(token: string, sessionId: string, content: string) {
  const sent = await graphql(urls().http, SEND, { input: { sessionId, content } }, token);
  const { reply, streamCursor } = sent.data.sendMessage;
  const client = wsClient(urls().ws, token);
  const events = await collectReply(client, { sessionId, after: streamCursor }, reply.id, 30_000);
  await client.dispose();
  return events;
}

/** The agent's request for a turn: the one that ends with that user message (extraction requests differ). */
const agentRequestFor = (content: string) =>
  fake.requests.findLast(
    (r) => r.tools?.length && r.messages.at(-1)?.role === "user" && r.messages.at(-1)?.content === content,
  )!;
const shape = (request: FakeRequest) =>
  request.messages.slice(1).map((m) => (m.role === "assistant" && m.tool_calls?.length ? "assistant+tools" : m.role));

describe("checkpointed conversations", () => {
  it("keep tool calls in the agent's history, across a restart", { timeout: 60_000 }, async () => {
    const user = await signUp(urls().http);
    const sessionId = await createSession(urls().http, user.token);
    await app.memories.idle();
    fake.plan("checkpoint-model", [
      { kind: "toolCall", calls: [{ name: "current_time", args: { timeZone: "UTC" } }] },
      { kind: "echo" },
    ]);
    await turn(user.token, sessionId, "What time is it?");
    await turn(user.token, sessionId, "Thanks!");
    expect(shape(agentRequestFor("Thanks!"))).toEqual(["user", "assistant+tools", "tool", "assistant", "user"]);

    await app.stop({ graceMs: 1000 });
    await start();
    await turn(user.token, sessionId, "Still there?");
    expect(shape(agentRequestFor("Still there?"))).toEqual([
      "user",
      "assistant+tools",
      "tool",
      "assistant",
      "user",
      "assistant",
      "user",
    ]);
  });

  it("are rebuilt from the stored messages after a run stopped between a tool call and its result", {
    timeout: 60_000,
  }, async () => {
    const user = await signUp(urls().http);
    const sessionId = await createSession(urls().http, user.token);
    await turn(user.token, sessionId, "Hello");
    // Memory extraction of "Hello" calls the same fake model: let it finish before planning the next answer.
    await app.memories.idle();
    // The search hangs; cancelling leaves the checkpoint ending in a tool call that never got its result.
    fake.plan("checkpoint-model", [{ kind: "toolCall", calls: [{ name: "web_search", args: { query: "[slow] x" } }] }]);
    const sent = await graphql(urls().http, SEND, { input: { sessionId, content: "Search something" } }, user.token);
    const { reply, streamCursor } = sent.data.sendMessage;
    const client = wsClient(urls().ws, user.token);
    const collecting = collectReply(client, { sessionId, after: streamCursor }, reply.id, 30_000);
    while (!search.queries.includes("[slow] x")) await new Promise((resolve) => setTimeout(resolve, 20));
    await graphql(urls().http, CancelGenerationDocument, { input: { sessionId } }, user.token);
    expect((await collecting).at(-1)!.__typename).toBe("MessageCancelled");
    await client.dispose();

    await turn(user.token, sessionId, "Never mind");
    // The rows: Hello, its answer, the cancelled turn's user message (its reply is not COMPLETE), and this one.
    const request = agentRequestFor("Never mind");
    expect(shape(request)).toEqual(["user", "assistant", "user", "user"]);
    expect(request.messages.slice(1).map((m) => m.content)).toEqual([
      "Hello",
      expect.any(String),
      "Search something",
      "Never mind",
    ]);
  });
});
