// Tracing against a local fake Langfuse (it records what reaches its OTLP endpoint) and a tiny real graph whose
// node calls a real ChatOpenAI, through ResilientChatModel, against the fake OpenAI server.
import { HumanMessage } from "@langchain/core/messages";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { createTraceId, getLangfuseTracerProvider } from "@langfuse/tracing";
import { trace } from "@opentelemetry/api";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startFakeLangfuse, type FakeLangfuse } from "../../test/support/fake-langfuse.ts";
import { FAKE_REPLY_TOKENS, startFakeOpenAI, type FakeOpenAI } from "../../test/support/fake-openai.ts";
import { createChatModel } from "../agent/models/chat-model.ts";
import { ResilientChatModel } from "../agent/models/resilient-chat.ts";
import { createTracing, replyTraceId, type Tracing } from "./tracing.ts";

function captureLogs() {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

const run = { userId: "user-7f3a", sessionId: "session-91bc", messageId: "message-42de" };
const MODEL = "traced-model";

let openai: FakeOpenAI;
let langfuse: FakeLangfuse;
let tracing: Tracing | undefined;
beforeAll(async () => {
  openai = await startFakeOpenAI();
  langfuse = await startFakeLangfuse();
});
afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
  vi.restoreAllMocks();
});
afterAll(async () => {
  await openai?.close();
  await langfuse?.close();
});

/** START → agent → END; the agent node streams through the resilient chain, as the app's graph does. */
async function runTinyGraph(callbacks: ReturnType<Tracing["callbacksFor"]>): Promise<string> {
  const chat = new ResilientChatModel(
    createChatModel({
      apiKey: "sk-test",
      baseUrl: openai.baseUrl,
      model: MODEL,
      fallbacks: [],
      maxOutputTokens: 64,
      timeoutMs: 5_000,
      devModelTokenDelayMs: 0,
      totalDeadlineMs: 10_000,
      maxRetries: 0,
      breaker: { failureThreshold: 5, cooldownMs: 1_000 },
    }),
    {
      attemptTimeoutMs: 5_000,
      totalDeadlineMs: 10_000,
      maxRetries: 0,
      breaker: { failureThreshold: 5, cooldownMs: 1_000 },
    },
  );
  const graph = new StateGraph(MessagesAnnotation)
    .addNode("agent", async (state, config) => {
      for await (const event of chat.stream(state.messages, {
        signal: config.signal ?? new AbortController().signal,
      })) {
        if (event.type === "done") return { messages: [event.message] };
      }
      throw new Error("no message");
    })
    .addEdge(START, "agent")
    .addEdge("agent", END)
    .compile();
  const result = await graph.invoke({ messages: [new HumanMessage("Trace me")] }, { callbacks });
  return result.messages.at(-1)!.text;
}

describe("without both Langfuse keys", () => {
  it("is a true no-op: the graph runs, nothing is registered, sent or warned", async () => {
    const warn = vi.spyOn(console, "warn");
    const { logger, lines } = captureLogs();
    tracing = await createTracing(
      { publicKey: "pk-lf-only-half", secretKey: undefined, baseUrl: langfuse.baseUrl },
      logger,
    );
    expect(tracing.enabled).toBe(false);
    const callbacks = tracing.callbacksFor({ ...run, isReply: true });
    expect(await runTinyGraph(callbacks)).toBe(FAKE_REPLY_TOKENS.join(""));
    tracing.scoreReply({ messageId: run.messageId, rating: "UP", comment: "unsent" });
    await tracing.flush();
    await tracing.shutdown();
    expect(getLangfuseTracerProvider()).toBe(trace.getTracerProvider()); // no provider of its own
    expect(langfuse.received).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
  });
});

describe("with both keys", () => {
  it("sends the run's trace on flush, attributed to the user and the chat session", async () => {
    const { logger, lines } = captureLogs();
    tracing = await createTracing(
      { publicKey: "pk-lf-test", secretKey: "sk-lf-test", baseUrl: langfuse.baseUrl },
      logger,
    );
    expect(await runTinyGraph(tracing.callbacksFor(run))).toBe(FAKE_REPLY_TOKENS.join(""));
    await tracing.flush();

    const traces = langfuse.received.filter((r) => r.method === "POST" && r.url === "/api/public/otel/v1/traces");
    expect(traces.length).toBeGreaterThan(0);
    const payload = traces.map((r) => r.body).join("\n");
    const attribute = (key: string, value: string) => `{"key":"${key}","value":{"stringValue":"${value}"}}`;
    expect(payload).toContain(attribute("user.id", run.userId));
    expect(payload).toContain(attribute("session.id", run.sessionId));
    expect(payload).toContain(attribute("langfuse.trace.metadata.messageId", run.messageId));
    expect(payload).toContain(MODEL); // the model call inside the node is traced too
    expect(traces[0]!.authorization).toBe(`Basic ${Buffer.from("pk-lf-test:sk-lf-test").toString("base64")}`);
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
  });

  it("logs a warning instead of crashing when Langfuse is unreachable", async () => {
    const down = createServer();
    down.listen(0, "127.0.0.1");
    await once(down, "listening");
    const deadUrl = `http://127.0.0.1:${(down.address() as AddressInfo).port}`;
    await new Promise((resolve) => down.close(resolve));

    const { logger, lines } = captureLogs();
    tracing = await createTracing({ publicKey: "pk-lf-test", secretKey: "sk-lf-test", baseUrl: deadUrl }, logger);
    await runTinyGraph(tracing.callbacksFor(run));
    await expect(tracing.flush()).resolves.toBeUndefined();
    await expect(tracing.shutdown()).resolves.toBeUndefined();
    expect(lines.some((line) => line.level === 40 && line.msg.includes("Langfuse flush failed"))).toBe(true);
  });
});

describe("a reply's trace and its score", () => {
  const scoresFor = (messageId: string) =>
    langfuse.scores().filter((score) => (score.metadata as { messageId?: string }).messageId === messageId);

  it("gives the reply's run the trace id Langfuse's createTraceId(messageId) makes, on a genuine root span; other runs stay random", async () => {
    const { logger } = captureLogs();
    tracing = await createTracing(
      { publicKey: "pk-lf-test", secretKey: "sk-lf-test", baseUrl: langfuse.baseUrl },
      logger,
    );
    const messageId = `reply-${randomUUID()}`;
    expect(replyTraceId(messageId)).toBe(await createTraceId(messageId));
    // The reply's run and, for the same reply, a run that is not the reply (memory extraction), side by side.
    await Promise.all([
      runTinyGraph(tracing.callbacksFor({ ...run, messageId, isReply: true })),
      runTinyGraph(tracing.callbacksFor({ ...run, messageId })),
    ]);
    await tracing.flush();

    const spans = langfuse.spans().filter((span) => span.attributes["langfuse.trace.metadata.messageId"] === messageId);
    const roots = spans.filter((span) => !span.parentSpanId);
    expect(roots.map((span) => span.name)).toEqual(["LangGraph", "LangGraph"]);
    const [reply, other] = roots[0]!.traceId === replyTraceId(messageId) ? roots : [...roots].reverse();
    expect(reply!.traceId).toBe(replyTraceId(messageId));
    expect(other!.traceId).not.toBe(replyTraceId(messageId));
    // The model call inside the reply's node is in the reply's trace.
    const inReply = langfuse.spans().filter((span) => span.traceId === replyTraceId(messageId));
    expect(inReply.map((span) => span.name)).toEqual(expect.arrayContaining(["LangGraph", "agent", "ChatOpenAI"]));
  });

  it("posts a rating as the score of the reply's trace; of quick re-ratings the latest is posted last; flush waits", async () => {
    const { logger, lines } = captureLogs();
    tracing = await createTracing(
      { publicKey: "pk-lf-test", secretKey: "sk-lf-test", baseUrl: `${langfuse.baseUrl}/` },
      logger,
    );
    const messageId = `reply-${randomUUID()}`;
    tracing.scoreReply({ messageId, rating: "UP", comment: "Helpful" });
    tracing.scoreReply({ messageId, rating: "DOWN", comment: null });
    tracing.scoreReply({ messageId, rating: "DOWN", comment: "Wrong after all" });
    await tracing.flush();

    const traceId = replyTraceId(messageId);
    const score = {
      id: `${traceId}-user-feedback`,
      traceId,
      name: "user-feedback",
      dataType: "NUMERIC",
      metadata: { messageId },
    };
    // The first was on its way; of the two that came meanwhile only the latest is sent.
    expect(scoresFor(messageId)).toEqual([
      { ...score, value: 1, comment: "Helpful" },
      { ...score, value: 0, comment: "Wrong after all" },
    ]);
    const post = langfuse.received.find(
      (request) => request.url === "/api/public/scores" && request.body.includes(messageId),
    )!;
    expect(post.authorization).toBe(`Basic ${Buffer.from("pk-lf-test:sk-lf-test").toString("base64")}`);
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
  });

  it("logs a warning, never throws, when Langfuse refuses a score or cannot be reached", async () => {
    const { logger, lines } = captureLogs();
    tracing = await createTracing(
      { publicKey: "pk-lf-test", secretKey: "sk-lf-test", baseUrl: langfuse.baseUrl },
      logger,
    );
    langfuse.status = 503;
    try {
      tracing.scoreReply({ messageId: "refused", rating: "UP", comment: null });
      await tracing.flush();
    } finally {
      langfuse.status = 200;
    }
    expect(lines.filter((line) => line.level === 40 && line.msg.includes("Langfuse score failed"))).toHaveLength(1);
    await tracing.shutdown();

    const down = createServer();
    down.listen(0, "127.0.0.1");
    await once(down, "listening");
    const deadUrl = `http://127.0.0.1:${(down.address() as AddressInfo).port}`;
    await new Promise((resolve) => down.close(resolve));
    tracing = await createTracing({ publicKey: "pk-lf-test", secretKey: "sk-lf-test", baseUrl: deadUrl }, logger);
    expect(() => tracing!.scoreReply({ messageId: "unreachable", rating: "DOWN", comment: "x" })).not.toThrow();
    await expect(tracing.shutdown()).resolves.toBeUndefined();
    expect(lines.filter((line) => line.level === 40 && line.msg.includes("Langfuse score failed"))).toHaveLength(2);
  });
});
