// MemoryService against a real database (PGlite, or PostgreSQL with TEST_DATABASE_URL): the background extraction
// queue, merging facts, full-text recall and per-user isolation.
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, type BaseMessage } from "@langchain/core/messages";
import type { ChatResult } from "@langchain/core/outputs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResilientChatModel } from "../agent/models/resilient-chat.ts";
import { loadConfig } from "../config/index.ts";
import { createLogger } from "../observability/logger.ts";
import { openDatabase, type Database } from "../persistence/database.ts";
import { testEnvironment } from "../../test/support/test-app.ts";
import { AppError } from "./errors.ts";
import { MemoryService, type MemoryServiceOptions, memoryCursor } from "./memories.ts";

/** A chat model whose every answer comes from `respond` (which sees the call's abort signal). */
class ScriptedModel extends BaseChatModel {
  calls: BaseMessage[][] = [];
  constructor(private readonly respond: (messages: BaseMessage[], signal?: AbortSignal) => Promise<string> | string) {
    super({});
  }
  _llmType() {
    return "scripted";
  }
  async _generate(messages: BaseMessage[], options: this["ParsedCallOptions"]): Promise<ChatResult> {
    this.calls.push(messages);
    const text = await this.respond(messages, options.signal);
    return { generations: [{ text, message: new AIMessage(text) }] };
  }
}

/** Answers once released; rejects when its call is aborted. */
function gatedModel() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const model = new ScriptedModel(
    (_messages, signal) =>
      new Promise<string>((resolve, reject) => {
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        void gate.then(() => resolve('{"memories": []}'));
      }),
  );
  return { model, release };
}

let database: Database;
let cleanup: () => Promise<void>;
const logger = createLogger("silent");

beforeAll(async () => {
  const environment = await testEnvironment();
  cleanup = environment.cleanup;
  const config = loadConfig(environment.env);
  database = await openDatabase({ ...config.database, dataDir: config.dataDir });
});
afterAll(async () => {
  await database?.close();
  await cleanup?.();
});

let users = 0;
async function newUser(): Promise<string> {
  users += 1;
  const user = await database.prisma.user.create({
    data: { email: `memory-${users}-${Date.now()}@example.com`, passwordHash: "x" },
  });
  return user.id;
}

type ScriptedFact = string | { fact: string; replaces: number };

/**
 * A model that answers each extraction request with the facts scripted for its message (given the known facts it
 * was shown, for a `replaces` index), and with none for any other message.
 */
function extractor(script: Record<string, ScriptedFact[] | ((known: string[]) => ScriptedFact[])>) {
  return new ScriptedModel((messages) => {
    const request = JSON.parse(messages.at(-1)!.text) as { message: string; known: Array<{ fact: string }> };
    const facts = script[request.message] ?? [];
    return JSON.stringify({
      memories: typeof facts === "function" ? facts(request.known.map((known) => known.fact)) : facts,
    });
  });
}

function service(model: BaseChatModel = extractor({}), options: Partial<MemoryServiceOptions> = {}) {
  // Extraction goes through the resilient model path, as in the app; no retries, so a failure fails at once.
  const policy = {
    attemptTimeoutMs: 60_000,
    totalDeadlineMs: 60_000,
    maxRetries: 0,
    breaker: { failureThreshold: 1000, cooldownMs: 1000 },
  };
  const chat = new ResilientChatModel([{ name: "scripted", model }], policy);
  return new MemoryService(database.prisma, chat, logger, { extractionQueueMax: 100, recallLimit: 5, ...options });
}

/** Stores facts directly, one second apart (oldest first), so order and recency are known. */
async function seed(userId: string, facts: string[]) {
  const start = Date.now() - facts.length * 1000;
  const rows = [];
  for (const [index, content] of facts.entries()) {
    const at = new Date(start + index * 1000);
    rows.push(await database.prisma.memory.create({ data: { userId, content, createdAt: at, updatedAt: at } }));
  }
  return rows;
}

const contents = async (memories: MemoryService, userId: string) =>
  (await memories.list(userId, { first: 100 })).map((memory) => memory.content);

describe("extraction in the background", () => {
  it("returns at once, then stores the facts the user stated about themselves", async () => {
    const said = "Hi! My name is Ada Lovelace and I live in London. I like green tea. What's the weather?";
    const memories = service(
      extractor({ [said]: ["User's name is Ada Lovelace", "User lives in London", "User likes green tea"] }),
    );
    const userId = await newUser();
    memories.afterUserTurn(userId, said);
    // Returned without waiting: the job is still queued or running (what is stored meanwhile is a race).
    expect(memories.stats().running + memories.stats().queued).toBe(1);
    await memories.idle();
    expect((await contents(memories, userId)).sort()).toEqual([
      "User likes green tea",
      "User lives in London",
      "User's name is Ada Lovelace",
    ]);
    expect(memories.stats()).toMatchObject({ processed: 1, failed: 0, dropped: 0, created: 3 });
  });

  it("shows the model only the new message and the few relevant known facts", async () => {
    const model = new ScriptedModel(() => '{"memories": []}');
    const memories = service(model, { recallLimit: 2 });
    const userId = await newUser();
    await seed(userId, ["User likes jazz", "User lives in Berlin", "User has a dog named Rex", "User works at Acme"]);
    memories.afterUserTurn(userId, "My dog Rex is ill");
    await memories.idle();
    const request = JSON.parse(model.calls[0]!.at(-1)!.text);
    expect(request.message).toBe("My dog Rex is ill");
    expect(request.known).toEqual([{ index: 0, fact: "User has a dog named Rex" }]);
  });

  it("skips facts already known and replaces a fact that changed", async () => {
    // A model shown "User lives in Berlin" as known restates nothing, and names the fact a move replaces.
    const memories = service(
      extractor({
        "I live in Berlin.": ["User lives in Berlin"],
        "I moved to Paris, and I love the food": (known) => [
          { fact: "User lives in Paris", replaces: known.indexOf("User lives in Berlin") },
          "User loves the food",
        ],
      }),
    );
    const userId = await newUser();
    memories.afterUserTurn(userId, "I live in Berlin.");
    await memories.idle();
    const [original] = await memories.list(userId, { first: 10 });
    memories.afterUserTurn(userId, "As I said, I live in Berlin");
    memories.afterUserTurn(userId, "i LIVE IN berlin");
    await memories.idle();
    expect(await contents(memories, userId)).toEqual(["User lives in Berlin"]);

    memories.afterUserTurn(userId, "I moved to Paris, and I love the food");
    await memories.idle();
    const after = await memories.list(userId, { first: 10 });
    expect(after.map((memory) => memory.content).sort()).toEqual(["User lives in Paris", "User loves the food"]);
    const moved = after.find((memory) => memory.content.startsWith("User lives in"))!;
    expect(moved.id).toBe(original!.id);
    expect(moved.updatedAt.getTime()).toBeGreaterThan(original!.updatedAt.getTime());
    expect(memories.stats()).toMatchObject({ created: 2, updated: 1, failed: 0 });
  });

  it("stores nothing from bad model output and survives a failing model", async () => {
    const answers = [
      "I could not find any facts.",
      '{"memories": "User is nice"}',
      '{"memories": [{"fact": 42}]}',
      "{broken json",
      '```json\n{"memories": [{"fact": "User owns a cat", "replaces": 7}, {"fact": "   "}]}\n```',
    ];
    let call = 0;
    const model = new ScriptedModel(() => {
      const answer = answers[call++];
      if (answer === undefined) throw new Error("model is down");
      return answer;
    });
    const memories = service(model);
    const userId = await newUser();
    for (let turn = 0; turn < answers.length + 1; turn++) memories.afterUserTurn(userId, `turn ${turn}`);
    await memories.idle();
    // The one well-formed answer counts; its out-of-range `replaces` and blank fact are ignored.
    expect(await contents(memories, userId)).toEqual(["User owns a cat"]);
    expect(memories.stats()).toMatchObject({ processed: answers.length, failed: 1, created: 1 });
  });
});

describe("the extraction queue", () => {
  it("is bounded: a full queue drops its oldest job and counts it", async () => {
    const { model, release } = gatedModel();
    const memories = service(model, { extractionQueueMax: 2, concurrency: 1 });
    const userIds = await Promise.all([1, 2, 3, 4, 5].map(() => newUser()));
    for (const userId of userIds) memories.afterUserTurn(userId, "I like chess");
    expect(memories.stats()).toMatchObject({ running: 1, queued: 2, dropped: 2 });
    release();
    await memories.idle();
    expect(memories.stats()).toMatchObject({ running: 0, queued: 0, processed: 3, dropped: 2 });
    // The first job was already running; of the four that waited, the two newest survived.
    const called = model.calls.map((messages) => JSON.parse(messages.at(-1)!.text).message);
    expect(called).toHaveLength(3);
  });

  it("runs one user's jobs in order, never two at once", async () => {
    const seen: string[] = [];
    let active = 0;
    let overlapped = false;
    const model = new ScriptedModel(async (messages) => {
      active += 1;
      if (active > 1) overlapped = true;
      seen.push(JSON.parse(messages.at(-1)!.text).message);
      await new Promise((resolve) => setTimeout(resolve, 5));
      active -= 1;
      return '{"memories": []}';
    });
    const memories = service(model, { concurrency: 4 });
    const userId = await newUser();
    for (const n of [1, 2, 3, 4]) memories.afterUserTurn(userId, `message ${n}`);
    await memories.idle();
    expect(seen).toEqual(["message 1", "message 2", "message 3", "message 4"]);
    expect(overlapped).toBe(false);
  });

  it("drains on shutdown: finishes within the grace, then aborts the rest and refuses new jobs", async () => {
    const quick = service(
      extractor({
        "I work at the observatory": ["User works at the observatory"],
        "My favorite planet is Saturn": ["User's favorite planet is Saturn"],
      }),
      { concurrency: 1 },
    );
    const userId = await newUser();
    quick.afterUserTurn(userId, "I work at the observatory");
    quick.afterUserTurn(userId, "My favorite planet is Saturn");
    await quick.drain(5_000);
    expect((await contents(quick, userId)).sort()).toEqual([
      "User works at the observatory",
      "User's favorite planet is Saturn",
    ]);

    const { model } = gatedModel(); // never answers
    const stuck = service(model, { concurrency: 1 });
    const other = await newUser();
    stuck.afterUserTurn(other, "I like tea");
    stuck.afterUserTurn(other, "I like coffee");
    const started = Date.now();
    await stuck.drain(50);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(stuck.stats()).toMatchObject({ running: 0, queued: 0, failed: 1, dropped: 1 });
    stuck.afterUserTurn(other, "I like cocoa");
    expect(stuck.stats()).toMatchObject({ queued: 0, dropped: 2 });
  });
});

describe("recall", () => {
  it("ranks full-text matches by how much of the message they match", async () => {
    const memories = service(undefined, { recallLimit: 3 });
    const userId = await newUser();
    await seed(userId, [
      "User's name is Grace",
      "User lives in Arlington, Virginia",
      "User likes COBOL and compilers",
      "User's favorite drink is coffee",
      "User works at the Navy as a compiler engineer",
    ]);
    expect(await memories.recall(userId, "Where do I live these days?")).toEqual(["User lives in Arlington, Virginia"]);
    const compilers = await memories.recall(userId, "Which compiler should an engineer at the navy use?");
    expect(compilers).toEqual(["User works at the Navy as a compiler engineer", "User likes COBOL and compilers"]);
    expect(await memories.recall(userId, "What is my name?")).toEqual(["User's name is Grace"]);
  });

  it("falls back to the most recent memories when nothing matches, and finds nothing for a user without any", async () => {
    const memories = service(undefined, { recallLimit: 2 });
    const userId = await newUser();
    await seed(userId, ["User likes hiking", "User has two cats", "User is learning Rust"]);
    expect(await memories.recall(userId, "hello there!")).toEqual(["User is learning Rust", "User has two cats"]);
    expect(await memories.recall(userId, "")).toEqual(["User is learning Rust", "User has two cats"]);
    expect(await memories.recall(await newUser(), "Where do I live?")).toEqual([]);
  });

  it("never returns another user's memories", async () => {
    const memories = service();
    const [ada, bob] = [await newUser(), await newUser()];
    await seed(ada, ["User lives in London"]);
    await seed(bob, ["User plays the cello"]);
    expect(await memories.recall(bob, "Where do I live?")).toEqual(["User plays the cello"]);
    expect(await memories.recall(ada, "cello")).toEqual(["User lives in London"]);
  });

  it("takes a query with tsquery syntax or quotes in it as plain words", async () => {
    const memories = service();
    const userId = await newUser();
    await seed(userId, ["User writes C++ and Rust", "User's dog is called O'Malley"]);
    for (const query of ["rust & !c", "'rust' | (c++)", "rust:* <-> x", "rust\\"]) {
      expect(await memories.recall(userId, query)).toEqual(["User writes C++ and Rust"]);
    }
    expect(await memories.recall(userId, "How is O'Malley's 'dog' doing?")).toEqual(["User's dog is called O'Malley"]);
  });

  it("searches the start and the end of a very long message", async () => {
    const memories = service();
    const userId = await newUser();
    await seed(userId, ["User lives in Lisbon", "User likes sardines"]);
    const pasted = "Lorem ipsum dolor sit amet. ".repeat(500);
    expect(await memories.recall(userId, `${pasted} So where do I live?`)).toEqual(["User lives in Lisbon"]);
    expect(await memories.recall(userId, `Sardines! ${pasted}`)).toEqual(["User likes sardines"]);
  });
});

describe("list, delete, clear", () => {
  it("pages newest first with cursors, filters by full-text query, and in reverse from the end", async () => {
    const memories = service();
    const userId = await newUser();
    const rows = await seed(userId, [
      "User likes tea",
      "User likes coffee",
      "User has a cat",
      "User likes mint tea",
      "User lives in Oslo",
    ]);
    const newestFirst = [...rows].reverse().map((row) => row.content);
    const page1 = await memories.list(userId, { first: 2 });
    expect(page1.map((memory) => memory.content)).toEqual(newestFirst.slice(0, 2));
    expect(page1[0]!.createdAt).toBeInstanceOf(Date);
    const page2 = await memories.list(userId, { first: 2, after: memoryCursor(page1[1]!) });
    expect(page2.map((memory) => memory.content)).toEqual(newestFirst.slice(2, 4));
    const newer = await memories.list(userId, { first: 10, before: memoryCursor(page2[0]!) });
    expect(newer.map((memory) => memory.content)).toEqual(newestFirst.slice(0, 2));
    const oldest = await memories.list(userId, { first: 2, oldestFirst: true });
    expect(oldest.map((memory) => memory.content)).toEqual(["User likes tea", "User likes coffee"]);

    const tea = await memories.list(userId, { first: 10, query: "tea" });
    expect(tea.map((memory) => memory.content)).toEqual(["User likes mint tea", "User likes tea"]);
    const notMint = await memories.list(userId, { first: 10, query: "likes -mint" });
    expect(notMint.map((memory) => memory.content)).toEqual(["User likes coffee", "User likes tea"]);
    expect(await memories.list(userId, { first: 10, query: '"mint tea"' })).toHaveLength(1);

    // A deleted memory's cursor still marks its place.
    await memories.delete(userId, page1[1]!.id);
    const afterDeleted = await memories.list(userId, { first: 1, after: memoryCursor(page1[1]!) });
    expect(afterDeleted.map((memory) => memory.content)).toEqual([newestFirst[2]]);
    await expect(memories.list(userId, { first: 1, after: "garbage" })).rejects.toMatchObject({
      code: "BAD_USER_INPUT",
    });
  });

  it("deletes and clears only the caller's memories: someone else's id is NOT_FOUND", async () => {
    const memories = service();
    const [ada, bob] = [await newUser(), await newUser()];
    const [adaFact] = await seed(ada, ["User lives in London", "User likes tea"]);
    await seed(bob, ["User plays the cello"]);
    expect(await contents(memories, bob)).toEqual(["User plays the cello"]);

    const foreign = memories.delete(bob, adaFact!.id);
    await expect(foreign).rejects.toBeInstanceOf(AppError);
    await expect(memories.delete(bob, adaFact!.id)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(memories.delete(ada, "00000000-0000-7000-8000-000000000000")).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await memories.delete(ada, adaFact!.id);
    await expect(memories.delete(ada, adaFact!.id)).rejects.toMatchObject({ code: "NOT_FOUND" });

    expect(await memories.clear(bob)).toBe(1);
    expect(await memories.clear(bob)).toBe(0);
    expect(await contents(memories, ada)).toEqual(["User likes tea"]);
  });
});

describe("recall mode", () => {
  it("uses full-text search without EMBEDDINGS_MODEL, and when the database has no pgvector", async () => {
    expect(await service().prepare()).toBe("full-text");
    const embeddings = {
      client: { embedQuery: async () => [1, 0], embedDocuments: async (texts: string[]) => texts.map(() => [1, 0]) },
      model: "m",
    };
    const withEmbeddings = service(extractor({ "I live in Lisbon": ["User lives in Lisbon"] }), { embeddings });
    // Neither PGlite nor the test PostgreSQL 15 ships pgvector.
    expect(await withEmbeddings.prepare()).toBe("full-text");
    const userId = await newUser();
    withEmbeddings.afterUserTurn(userId, "I live in Lisbon");
    await withEmbeddings.idle();
    expect(await withEmbeddings.recall(userId, "where do I live")).toEqual(["User lives in Lisbon"]);
  });
});
