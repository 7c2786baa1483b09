// Ratings on a real database (PGlite, or PostgreSQL with TEST_DATABASE_URL): what the service stores and tells its
// sink, and what listRatedReplies gives the evals exporter.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testEnvironment } from "../../test/support/test-app.ts";
import { loadConfig } from "../config/index.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { openDatabase, type Database } from "../persistence/database.ts";
import type { Viewer } from "../security/viewer.ts";
import { FeedbackService, listRatedReplies, type RatedMessage } from "./feedback.ts";

let database: Database;
let prisma: PrismaClient;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  const environment = await testEnvironment();
  cleanup = environment.cleanup;
  const config = loadConfig(environment.env);
  database = await openDatabase({ ...config.database, dataDir: config.dataDir });
  prisma = database.prisma;
});
afterAll(async () => {
  await database?.close();
  await cleanup?.();
});

const tick = () => new Promise((resolve) => setTimeout(resolve, 2));
const viewerOf = (userId: string): Viewer => ({
  userId,
  credentialId: "test",
  expiresAt: new Date(Date.now() + 60_000),
});

/** A user with one session per conversation; each conversation alternates user messages and finished replies. */
async function userWith(...conversations: string[][]) {
  const user = await prisma.user.create({
    data: { email: `rater-${crypto.randomUUID()}@example.com`, passwordHash: "x" },
  });
  const sessions = [];
  for (const turns of conversations) {
    const session = await prisma.session.create({ data: { userId: user.id, name: "chat" } });
    const messages = [];
    for (const [i, content] of turns.entries()) {
      const role = i % 2 === 0 ? "USER" : "ASSISTANT";
      messages.push(await prisma.message.create({ data: { sessionId: session.id, role, content } }));
    }
    sessions.push({ id: session.id, messages });
  }
  return { viewer: viewerOf(user.id), sessions };
}

describe("FeedbackService.rate", () => {
  it("stores one rating per reply, replaced by the next, and tells the sink after each stored one only", async () => {
    const heard: RatedMessage[] = [];
    const feedback = new FeedbackService(prisma, (rated) => heard.push(rated));
    const { viewer, sessions } = await userWith(["Question", "Answer"]);
    const [question, answer] = sessions[0]!.messages;

    await feedback.rate(viewer, answer!.id, { rating: "UP", comment: "Nice" });
    const changed = await feedback.rate(viewer, answer!.id, { rating: "DOWN", comment: null });
    expect(changed).toMatchObject({ messageId: answer!.id, rating: "DOWN", comment: null });
    expect(await prisma.messageFeedback.count({ where: { messageId: answer!.id } })).toBe(1);
    await expect(feedback.rate(viewer, question!.id, { rating: "UP" })).rejects.toMatchObject({
      code: "BAD_USER_INPUT",
      details: { field: "input.messageId" },
    });
    await expect(feedback.rate(viewerOf(crypto.randomUUID()), answer!.id, { rating: "UP" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(feedback.rate(viewer, answer!.id, { rating: "UP", comment: "x".repeat(2001) })).rejects.toMatchObject({
      code: "BAD_USER_INPUT",
      details: { field: "input.comment" },
    });

    const sessionId = sessions[0]!.id;
    expect(heard).toEqual([
      { messageId: answer!.id, sessionId, rating: "UP", comment: "Nice" },
      { messageId: answer!.id, sessionId, rating: "DOWN", comment: null },
    ]);
  });

  it("refuses a STREAMING reply with REPLY_STREAMING", async () => {
    const { viewer, sessions } = await userWith(["Question"]);
    const streaming = await prisma.message.create({
      data: { sessionId: sessions[0]!.id, role: "ASSISTANT", content: "Par", status: "STREAMING" },
    });
    await expect(new FeedbackService(prisma).rate(viewer, streaming.id, { rating: "UP" })).rejects.toMatchObject({
      code: "REPLY_STREAMING",
    });
    expect(await prisma.messageFeedback.count({ where: { messageId: streaming.id } })).toBe(0);
  });
});

describe("listRatedReplies", () => {
  it("lists rated replies oldest rating first, each with the user message just before it; since, limit; gone with the session", async () => {
    const feedback = new FeedbackService(prisma);
    const before = await listRatedReplies(prisma);
    const { viewer, sessions } = await userWith(
      ["First question", "First answer", "Second question", "Second answer"],
      ["Other question", "Other answer"],
    );
    const [, firstAnswer, , secondAnswer] = sessions[0]!.messages;
    const [, otherAnswer] = sessions[1]!.messages;
    // A reply that answers nothing (no user message before it in its session).
    const loner = await userWith([]);
    const lonely = await prisma.message.create({
      data: { sessionId: loner.sessions[0]!.id, role: "ASSISTANT", content: "Unprompted" },
    });

    // A millisecond apart at least, so the order is the order of rating (ties would go by message id).
    await feedback.rate(loner.viewer, lonely.id, { rating: "UP" });
    await tick();
    await feedback.rate(viewer, secondAnswer!.id, { rating: "UP", comment: "Great" });
    await tick();
    await feedback.rate(viewer, firstAnswer!.id, { rating: "DOWN" });
    await tick();
    await feedback.rate(viewer, otherAnswer!.id, { rating: "UP" });
    await tick();
    await feedback.rate(viewer, firstAnswer!.id, { rating: "DOWN", comment: "Wrong" }); // re-rated: now the latest

    const mine = (await listRatedReplies(prisma)).slice(before.length);
    expect(mine.map(({ ratedAt, ...rest }) => rest)).toEqual([
      {
        messageId: lonely.id,
        sessionId: lonely.sessionId,
        rating: "UP",
        comment: null,
        reply: "Unprompted",
        userMessage: "",
      },
      {
        messageId: secondAnswer!.id,
        sessionId: sessions[0]!.id,
        rating: "UP",
        comment: "Great",
        reply: "Second answer",
        userMessage: "Second question",
      },
      {
        messageId: otherAnswer!.id,
        sessionId: sessions[1]!.id,
        rating: "UP",
        comment: null,
        reply: "Other answer",
        userMessage: "Other question",
      },
      {
        messageId: firstAnswer!.id,
        sessionId: sessions[0]!.id,
        rating: "DOWN",
        comment: "Wrong",
        reply: "First answer",
        userMessage: "First question",
      },
    ]);
    for (const reply of mine) expect(reply.ratedAt).toBeInstanceOf(Date);
    const ratedAt = mine.map((reply) => reply.ratedAt.getTime());
    expect(ratedAt).toEqual([...ratedAt].sort((a, b) => a - b));

    const since = await listRatedReplies(prisma, { since: mine[2]!.ratedAt });
    expect(since.map((reply) => reply.messageId)).toEqual([otherAnswer!.id, firstAnswer!.id]);
    expect(
      (await listRatedReplies(prisma, { since: mine[1]!.ratedAt, limit: 1 })).map((reply) => reply.messageId),
    ).toEqual([secondAnswer!.id]);
    expect(await listRatedReplies(prisma, { limit: 0 })).toEqual([]);

    await prisma.session.delete({ where: { id: sessions[0]!.id } });
    expect((await listRatedReplies(prisma, { since: mine[0]!.ratedAt })).map((reply) => reply.messageId)).toEqual([
      lonely.id,
      otherAnswer!.id,
    ]);
    expect(
      await prisma.messageFeedback.count({ where: { messageId: { in: [firstAnswer!.id, secondAnswer!.id] } } }),
    ).toBe(0);
  });
});
