// rateMessage end to end: a real server (real ChatOpenAI path against the fake OpenAI server) with Langfuse tracing
// on, pointed at a fake Langfuse that records the OTLP spans and the scores it receives.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replyTraceId } from "../src/observability/tracing.ts";
import {
  CancelGenerationDocument,
  MessageFeedbackDocument,
  RateMessageDocument,
  SendMessageDocument,
  type MessageRating,
} from "./generated/graphql.ts";
import {
  collectReply,
  createSession,
  graphql,
  sendAndCollectReply,
  signUp,
  wsClient,
  type GraphQLResponse,
  type SignedUpUser,
} from "./support/clients.ts";
import { startFakeLangfuse, type FakeLangfuse } from "./support/fake-langfuse.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fake-openai.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

let openai: FakeOpenAI;
let langfuse: FakeLangfuse;
let app: TestApp;
beforeAll(async () => {
  [openai, langfuse] = await Promise.all([startFakeOpenAI(), startFakeLangfuse()]);
  app = await startTestApp({
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: openai.baseUrl,
    LLM_MODEL: "feedback-model",
    LANGFUSE_PUBLIC_KEY: "pk-lf-feedback",
    LANGFUSE_SECRET_KEY: "sk-lf-feedback",
    LANGFUSE_BASE_URL: langfuse.baseUrl,
  });
});
afterAll(async () => {
  await app?.cleanup();
  await Promise.all([openai?.close(), langfuse?.close()]);
});

const codes = (result: GraphQLResponse) => result.errors?.map((error) => error.extensions?.code);
const rawId = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;

function rate(token: string | undefined, messageId: string, rating: MessageRating, comment?: string | null) {
  return graphql(
    app.graphqlUrl,
    RateMessageDocument,
    { input: { messageId, rating, ...(comment !== undefined ? { comment } : {}) } },
    token,
  );
}

async function feedbackOf(token: string, messageId: string) {
  const result = await graphql(app.graphqlUrl, MessageFeedbackDocument, { id: messageId }, token);
  expect(result.errors).toBeUndefined();
  const node = result.data!.node;
  return node && "feedback" in node ? node.feedback : undefined;
}

/** A fresh user's session with one finished reply (or `user`'s, in a new session). */
async function finishedReply(content = "Tell me something useful.", user?: SignedUpUser) {
  const owner = user ?? (await signUp(app.graphqlUrl));
  const sessionId = await createSession(app.graphqlUrl, owner.token);
  // Throws if sendMessage answers with errors.
  const { message, reply, events } = await sendAndCollectReply(app, owner, { sessionId, content });
  expect(events.at(-1)?.__typename).toBe("MessageCompleted");
  return { user: owner, sessionId, userMessageId: message.id, replyId: reply.id };
}

describe("rateMessage", () => {
  it("rates a reply UP with a comment, shows it on Message, changes it to DOWN and clears the comment", async () => {
    const { user, replyId, userMessageId } = await finishedReply();
    expect(await feedbackOf(user.token, replyId)).toBeNull();

    const up = await rate(user.token, replyId, "UP", "Clear and correct 👍");
    expect(up.errors).toBeUndefined();
    const first = up.data!.rateMessage.message;
    expect(first).toMatchObject({ id: replyId, feedback: { rating: "UP", comment: "Clear and correct 👍" } });
    expect(Date.parse(first.feedback!.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(await feedbackOf(user.token, replyId)).toEqual(first.feedback);

    const down = await rate(user.token, replyId, "DOWN", "  On second thought, it was wrong.\n");
    expect(down.data!.rateMessage.message.feedback).toMatchObject({
      rating: "DOWN",
      comment: "  On second thought, it was wrong.\n",
    });
    expect(Date.parse(down.data!.rateMessage.message.feedback!.updatedAt)).toBeGreaterThanOrEqual(
      Date.parse(first.feedback!.updatedAt),
    );

    // No comment (absent, null, or blank) clears the earlier one.
    const cleared = await rate(user.token, replyId, "DOWN");
    expect(cleared.data!.rateMessage.message.feedback).toMatchObject({ rating: "DOWN", comment: null });
    await rate(user.token, replyId, "UP", "back again");
    expect((await rate(user.token, replyId, "UP", "   ")).data!.rateMessage.message.feedback!.comment).toBeNull();
    expect(await feedbackOf(user.token, replyId)).toMatchObject({ rating: "UP", comment: null });
    // The user's own message carries no feedback.
    expect(await feedbackOf(user.token, userMessageId)).toBeNull();
  });

  it("keeps a comment of up to 2,000 characters exactly as sent and refuses a longer one, changing nothing", async () => {
    const { user, replyId } = await finishedReply();
    const longest = "🙂".repeat(2000); // 2,000 characters as a user counts them (4,000 UTF-16 units)
    expect((await rate(user.token, replyId, "UP", longest)).data!.rateMessage.message.feedback!.comment).toBe(longest);

    for (const comment of ["x".repeat(2001), "🙂".repeat(2001), "NUL \u0000 inside"]) {
      const refused = await rate(user.token, replyId, "DOWN", comment);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.comment" });
      expect(refused.data ?? null).toBeNull();
    }
    expect(await feedbackOf(user.token, replyId)).toMatchObject({ rating: "UP", comment: longest });
  });

  it("answers someone else's reply and an unknown id with NOT_FOUND, alike, and stores nothing", async () => {
    const victim = await finishedReply("My private question");
    const intruder = await signUp(app.graphqlUrl);
    const foreign = await rate(intruder.token, victim.replyId, "DOWN", "spam");
    const unknown = await rate(
      intruder.token,
      Buffer.from(`Message:${randomUUID()}`).toString("base64"),
      "DOWN",
      "spam",
    );
    expect(codes(foreign)).toEqual(["NOT_FOUND"]);
    expect(foreign.errors![0]!.message).toBe(unknown.errors![0]!.message);
    expect(codes(unknown)).toEqual(["NOT_FOUND"]);
    expect(await feedbackOf(victim.user.token, victim.replyId)).toBeNull();

    // An id of another type (the victim's session) is malformed input, as for every globalID argument.
    const session = await rate(intruder.token, victim.sessionId, "UP");
    expect(codes(session)).toEqual(["BAD_USER_INPUT"]);
  });

  it("refuses a user message with BAD_USER_INPUT naming input.messageId", async () => {
    const { user, userMessageId } = await finishedReply();
    const refused = await rate(user.token, userMessageId, "UP", "I like my own question");
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.messageId" });
    expect(await feedbackOf(user.token, userMessageId)).toBeNull();
  });

  it("refuses a reply still being written with REPLY_STREAMING, and takes the rating once it has ended", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const marker = `never answered ${randomUUID()}`;
    openai.planFor(marker, [{ kind: "hang" }]);
    const sent = await graphql(
      app.graphqlUrl,
      SendMessageDocument,
      { input: { sessionId, content: marker } },
      user.token,
    );
    const { reply, streamCursor } = sent.data!.sendMessage;
    expect(reply.status).toBe("STREAMING");

    const refused = await rate(user.token, reply.id, "DOWN", "too slow");
    expect(codes(refused)).toEqual(["REPLY_STREAMING"]);
    expect(await feedbackOf(user.token, reply.id)).toBeNull();

    const client = wsClient(app.wsUrl, user.token);
    const ended = collectReply(client, { sessionId, after: streamCursor }, reply.id);
    await graphql(app.graphqlUrl, CancelGenerationDocument, { input: { sessionId } }, user.token);
    expect((await ended).at(-1)?.__typename).toBe("MessageCancelled");
    await client.dispose();
    const rated = await rate(user.token, reply.id, "DOWN", "too slow");
    expect(rated.data!.rateMessage.message.feedback).toMatchObject({ rating: "DOWN", comment: "too slow" });
  });

  it("refuses anonymous callers with UNAUTHENTICATED", async () => {
    const { user, replyId } = await finishedReply();
    expect(codes(await rate(undefined, replyId, "UP"))).toEqual(["UNAUTHENTICATED"]);
    expect(await feedbackOf(user.token, replyId)).toBeNull();
  });
});

describe("Langfuse", () => {
  const scoresFor = (messageId: string) =>
    langfuse.scores().filter((score) => (score.metadata as { messageId?: string })?.messageId === messageId);

  it("scores the reply's own trace: the score's traceId is the trace id of the reply's exported spans", async () => {
    // Two replies at once: each root span must take its own reply's trace id, whichever run the handlers' queue serves.
    const user = await signUp(app.graphqlUrl);
    const [first, second] = await Promise.all([
      finishedReply("First question", user),
      finishedReply("Second question", user),
    ]);
    const replies = [first, second].map(({ replyId, sessionId }) => ({
      id: rawId(replyId),
      sessionId: rawId(sessionId),
    }));
    const traceIds = replies.map(({ id }) => replyTraceId(id));
    expect(new Set(traceIds).size).toBe(2);

    // Spans are exported in batches (every few seconds).
    const spansOf = (traceId: string) => langfuse.spans().filter((span) => span.traceId === traceId);
    await langfuse.waitFor(
      () => traceIds.every((traceId) => spansOf(traceId).some((span) => span.name === "ChatOpenAI")),
      20_000,
    );
    for (const [i, { id, sessionId }] of replies.entries()) {
      const spans = spansOf(traceIds[i]!);
      // One genuine root (no parent span): the graph run, carrying the reply's ids; every other span hangs below it.
      const roots = spans.filter((span) => !span.parentSpanId);
      expect(roots.map((span) => span.name)).toEqual(["LangGraph"]);
      expect(roots[0]!.attributes).toMatchObject({ "session.id": sessionId, "langfuse.trace.metadata.messageId": id });
      expect(spans.length).toBeGreaterThan(3);
      expect(
        spans.every((span) => !span.parentSpanId || spans.some((parent) => parent.spanId === span.parentSpanId)),
      ).toBe(true);
    }

    // Rated: the score names the first reply's trace, with an id of its own that a second rating reuses.
    expect((await rate(user.token, first.replyId, "UP", "Spot on")).errors).toBeUndefined();
    await langfuse.waitFor(() => scoresFor(replies[0]!.id).length === 1);
    const scoreId = `${traceIds[0]}-user-feedback`;
    expect(scoresFor(replies[0]!.id)).toEqual([
      {
        id: scoreId,
        traceId: traceIds[0],
        name: "user-feedback",
        value: 1,
        dataType: "NUMERIC",
        comment: "Spot on",
        metadata: { messageId: replies[0]!.id },
      },
    ]);
    const post = langfuse.received.find((request) => request.url === "/api/public/scores")!;
    expect(post.authorization).toBe(`Basic ${Buffer.from("pk-lf-feedback:sk-lf-feedback").toString("base64")}`);

    await rate(user.token, first.replyId, "DOWN");
    await langfuse.waitFor(() => scoresFor(replies[0]!.id).length === 2);
    expect(scoresFor(replies[0]!.id)[1]).toEqual({
      id: scoreId,
      traceId: traceIds[0],
      name: "user-feedback",
      value: 0,
      dataType: "NUMERIC",
      metadata: { messageId: replies[0]!.id },
    });
    expect(scoresFor(replies[1]!.id)).toEqual([]);
  });

  it("stores the rating even while Langfuse fails", async () => {
    const { user, replyId } = await finishedReply();
    langfuse.status = 503;
    try {
      const rated = await rate(user.token, replyId, "DOWN", "Langfuse is down");
      expect(rated.errors).toBeUndefined();
      await langfuse.waitFor(() => scoresFor(rawId(replyId)).length === 1);
    } finally {
      langfuse.status = 200;
    }
    expect(await feedbackOf(user.token, replyId)).toMatchObject({ rating: "DOWN", comment: "Langfuse is down" });
  });
});
