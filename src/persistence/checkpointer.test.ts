// PrismaCheckpointSaver on a real embedded PGlite and, when TEST_DATABASE_URL is set, also on a fresh database of
// that PostgreSQL server: LangGraph's own saver conformance suite, then what it doesn't cover (idempotent writes,
// ordering, paging, pruning, forks) and a real graph that survives a restart.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AIMessage, HumanMessage } from "@langchain/core/messages";
import type { RunnableConfig } from "@langchain/core/runnables";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import {
  emptyCheckpoint,
  ERROR,
  INTERRUPT,
  uuid6,
  type Checkpoint,
  type CheckpointMetadata,
  type CheckpointTuple,
} from "@langchain/langgraph-checkpoint";
import { deltaChannelHistoryTests, specTest } from "@langchain/langgraph-checkpoint-validation";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createThrowawayDatabase } from "../../test/support/throwaway-database.ts";
import { PrismaCheckpointSaver } from "./checkpointer.ts";
import { openDatabase, type Database } from "./database.ts";

// The conformance suite calls vitest's functions as globals (vitest `globals: true`); this config doesn't set it.
Object.assign(globalThis, { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it });

const testDatabaseUrl = process.env.TEST_DATABASE_URL;
const backends = ["pglite", ...(testDatabaseUrl ? ["postgresql"] : [])] as const;

/** A database that can be closed and opened again on the same data, as a restart does. */
async function createBackend(kind: (typeof backends)[number]) {
  const dataDir = await mkdtemp(join(tmpdir(), "checkpointer-test-"));
  const server =
    kind === "postgresql"
      ? await createThrowawayDatabase(testDatabaseUrl!, { prefix: "checkpointer_test" })
      : undefined;
  const url = server?.url;
  const drop = async () => server?.drop();
  return {
    open: (onQuery?: (sql: string) => void) =>
      openDatabase({ url, poolSize: 4, dataDir, ...(onQuery ? { onQuery } : {}) }),
    async destroy() {
      await drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const meta = (step: number, extra: Record<string, unknown> = {}): CheckpointMetadata =>
  ({ source: "loop", step, parents: {}, ...extra }) as CheckpointMetadata;

function checkpointWith(values: Record<string, unknown>, versions: Record<string, number | string>): Checkpoint {
  return { ...emptyCheckpoint(), id: uuid6(-3), channel_values: values, channel_versions: versions };
}

async function collect(iterable: AsyncIterable<CheckpointTuple>): Promise<CheckpointTuple[]> {
  const tuples: CheckpointTuple[] = [];
  for await (const tuple of iterable) tuples.push(tuple);
  return tuples;
}

const idsOf = async (iterable: AsyncIterable<CheckpointTuple>) =>
  (await collect(iterable)).map((tuple) => tuple.checkpoint.id);

/** A graph whose only node answers "echo: <last message>". */
function echoGraph(checkpointer: PrismaCheckpointSaver) {
  return new StateGraph(MessagesAnnotation)
    .addNode("echo", (state: typeof MessagesAnnotation.State) => ({
      messages: [new AIMessage(`echo: ${String(state.messages.at(-1)?.content)}`)],
    }))
    .addEdge(START, "echo")
    .addEdge("echo", END)
    .compile({ checkpointer });
}

describe.each(backends)("PrismaCheckpointSaver on %s", (kind) => {
  let backend: Awaited<ReturnType<typeof createBackend>>;
  let database: Database;
  let saver: PrismaCheckpointSaver;

  const rowsOf = async (threadId: string) => {
    const where = { threadId };
    const { prisma } = database;
    const [checkpoints, blobs, writes] = await Promise.all([
      prisma.agentCheckpoint.count({ where }),
      prisma.agentCheckpointBlob.count({ where }),
      prisma.agentCheckpointWrite.count({ where }),
    ]);
    return { checkpoints, blobs, writes };
  };

  beforeAll(async () => {
    backend = await createBackend(kind);
    database = await backend.open();
    saver = new PrismaCheckpointSaver(database.prisma);
  });
  afterAll(async () => {
    await database?.close();
    await backend?.destroy();
  });

  describe("LangGraph's conformance suite (@langchain/langgraph-checkpoint-validation)", () => {
    const initializer = {
      checkpointerName: `PrismaCheckpointSaver (${kind})`,
      // The suite needs each saver to start empty (it lists across threads and reuses thread ids).
      async createCheckpointer() {
        await database.prisma.$transaction([
          database.prisma.agentCheckpointWrite.deleteMany(),
          database.prisma.agentCheckpointBlob.deleteMany(),
          database.prisma.agentCheckpoint.deleteMany(),
        ]);
        return new PrismaCheckpointSaver(database.prisma);
      },
    };
    specTest(initializer);
    deltaChannelHistoryTests(initializer); // opt-in in the package (Beta API), run here on the base class's walk
  });

  describe("put and getTuple", () => {
    it("round-trip messages, metadata (with a NUL), the parent config, pending writes in replay order", async () => {
      const threadId = randomUUID();
      const root = { configurable: { thread_id: threadId, checkpoint_ns: "" } };
      const input = checkpointWith({ messages: [new HumanMessage("hi")] }, { messages: 1 });
      const first = await saver.put(root, input, meta(-1), { messages: 1 });
      const messages = [new HumanMessage("hi"), new AIMessage({ content: "hello", id: "ai-1" })];
      const second = await saver.put(
        first,
        checkpointWith({ messages, count: 2 }, { messages: 2, count: 1 }),
        meta(0, { note: "with a \u0000 inside", writes: { echo: { n: 1 } } }),
        { messages: 2, count: 1 },
      );
      await saver.putWrites(second, [["messages", [new AIMessage("b")]]], "task-b", "~__pregel_pull, b");
      await saver.putWrites(
        second,
        [
          ["messages", "a0"],
          ["count", 1],
        ],
        "task-a",
        "~__pregel_pull, a",
      );

      const tuple = await saver.getTuple(second);
      const secondId = second.configurable?.checkpoint_id;
      expect(tuple?.config).toEqual({ configurable: { ...root.configurable, checkpoint_id: secondId } });
      expect(tuple?.parentConfig).toEqual({ configurable: { ...first.configurable } });
      expect(tuple?.metadata).toEqual(meta(0, { note: "with a \u0000 inside", writes: { echo: { n: 1 } } }));
      const values = tuple?.checkpoint.channel_values as { messages: unknown[]; count: number };
      expect(values.messages[1]).toBeInstanceOf(AIMessage);
      expect(values.messages.map((message) => (message as AIMessage).content)).toEqual(["hi", "hello"]);
      expect(values.count).toBe(2);
      expect(tuple?.pendingWrites?.map(([task, channel]) => [task, channel])).toEqual([
        ["task-a", "messages"],
        ["task-a", "count"],
        ["task-b", "messages"],
      ]);
      expect(tuple?.pendingWrites?.[2]?.[2]).toEqual([new AIMessage("b")]);
      // Without checkpoint_id: the latest; the first one has no parent.
      expect((await saver.getTuple(root))?.checkpoint.id).toBe(secondId);
      const firstTuple = await saver.getTuple(first);
      expect(firstTuple?.config.configurable?.checkpoint_id).toBe(first.configurable?.checkpoint_id);
      expect(firstTuple!.parentConfig).toBeUndefined();
    });

    it("store a blob only for the channels in newVersions, shared by the later checkpoints", async () => {
      const threadId = randomUUID();
      const big = "x".repeat(10_000);
      const thread = { configurable: { thread_id: threadId } };
      let config = await saver.put(thread, checkpointWith({ big, n: 0 }, { big: 1, n: 1 }), meta(-1), { big: 1, n: 1 });
      for (let n = 1; n <= 3; n += 1) {
        config = await saver.put(config, checkpointWith({ big, n }, { big: 1, n: n + 1 }), meta(n - 1), { n: n + 1 });
      }
      expect(await rowsOf(threadId)).toEqual({ checkpoints: 4, blobs: 5, writes: 0 });
      expect((await saver.getTuple(config))?.checkpoint.channel_values).toEqual({ big, n: 3 });
    });
  });

  describe("list", () => {
    let threadId: string;
    const ids: string[] = [];
    beforeAll(async () => {
      threadId = randomUUID();
      let config: RunnableConfig = { configurable: { thread_id: threadId, checkpoint_ns: "" } };
      for (let step = -1; step < 6; step += 1) {
        const checkpoint = checkpointWith({}, {});
        ids.push(checkpoint.id);
        const source = step === -1 ? "input" : "loop";
        const user = step % 2 === 0 ? "even" : "odd";
        config = await saver.put(config, checkpoint, meta(step, { source, user, tags: { n: step } }), {});
      }
    });

    it("returns newest first, across pages, honouring limit and before", async () => {
      const paged = new PrismaCheckpointSaver(database.prisma, { pageSize: 2 });
      const thread = { configurable: { thread_id: threadId } };
      const newestFirst = [...ids].reverse();
      expect(await idsOf(paged.list(thread))).toEqual(newestFirst);
      expect(await idsOf(paged.list(thread, { limit: 3 }))).toEqual(newestFirst.slice(0, 3));
      const before = { configurable: { checkpoint_id: ids[4] } };
      expect(await idsOf(paged.list(thread, { before, limit: 3 }))).toEqual([ids[3], ids[2], ids[1]]);
      expect(await collect(paged.list(thread, { limit: 0 }))).toEqual([]);
    });

    it("pages through rows sharing a checkpoint id (threads, namespaces) without skipping any", async () => {
      const marker = randomUUID();
      const checkpoint = checkpointWith({}, {});
      const expected: string[] = [];
      for (const thread of [randomUUID(), randomUUID(), randomUUID()]) {
        for (const ns of ["", "sub:1"]) {
          const at = { configurable: { thread_id: thread, checkpoint_ns: ns } };
          await saver.put(at, checkpoint, meta(0, { marker }), {});
          expected.push(`${thread}/${ns}`);
        }
      }
      const onePerPage = new PrismaCheckpointSaver(database.prisma, { pageSize: 1 });
      const listed = await collect(onePerPage.list({}, { filter: { marker } }));
      const keys = listed.map(({ config: { configurable: at } }) => `${at?.thread_id}/${at?.checkpoint_ns}`);
      expect(keys.sort()).toEqual(expected.sort());
    });

    it("filters on metadata by JSON equality, keys combined", async () => {
      const thread = { configurable: { thread_id: threadId } };
      const steps = async (filter: Record<string, unknown>) =>
        (await collect(saver.list(thread, { filter }))).map((tuple) => tuple.metadata?.step);
      expect(await steps({ source: "input" })).toEqual([-1]);
      expect(await steps({ user: "even", source: "loop" })).toEqual([4, 2, 0]);
      expect(await steps({ tags: { n: 3 } })).toEqual([3]);
      expect(await steps({ step: 5 })).toEqual([5]);
      expect(await steps({ user: "nobody" })).toEqual([]);
      expect(await steps({ user: undefined, step: 1 })).toEqual([1]);
    });
  });

  describe("putWrites", () => {
    it("is idempotent per (thread, ns, checkpoint, task, idx): special writes replace, others don't", async () => {
      const threadId = randomUUID();
      const config = await saver.put({ configurable: { thread_id: threadId } }, checkpointWith({}, {}), meta(-1), {});
      await saver.putWrites(
        config,
        [
          ["a", 1],
          ["b", 2],
        ],
        "task",
      );
      await saver.putWrites(
        config,
        [
          ["a", "retried"],
          ["b", "retried"],
          ["c", 3],
        ],
        "task",
      );
      await saver.putWrites(config, [[ERROR, { message: "first" }]], "task");
      await saver.putWrites(config, [[ERROR, { message: "second" }]], "task");
      await saver.putWrites(config, [[INTERRUPT, "stop"]], "other-task");
      const tuple = await saver.getTuple(config);
      expect(tuple?.pendingWrites).toEqual([
        ["other-task", INTERRUPT, "stop"],
        ["task", ERROR, { message: "second" }],
        ["task", "a", 1],
        ["task", "b", 2],
        ["task", "c", 3],
      ]);
      expect((await rowsOf(threadId)).writes).toBe(5);
    });
  });

  describe("namespaces and threads", () => {
    it("keeps checkpoint_ns apart; deleteThread removes every namespace of one thread only", async () => {
      const threadId = randomUUID();
      const otherThread = randomUUID();
      const put = async (thread: string, ns: string, value: string) => {
        const at = { configurable: { thread_id: thread, checkpoint_ns: ns } };
        const config = await saver.put(at, checkpointWith({ value }, { value: 1 }), meta(0), { value: 1 });
        await saver.putWrites(config, [["value", `${value}!`]], "task");
        return config;
      };
      await put(threadId, "", "root");
      await put(threadId, "sub:1", "sub");
      await put(otherThread, "", "other");
      const latest = async (thread: string, ns: string) =>
        (await saver.getTuple({ configurable: { thread_id: thread, checkpoint_ns: ns } }))?.checkpoint.channel_values;
      expect(await latest(threadId, "")).toEqual({ value: "root" });
      expect(await latest(threadId, "sub:1")).toEqual({ value: "sub" });
      expect(await latest(threadId, "sub:2")).toBeUndefined();
      const inSub = await collect(saver.list({ configurable: { thread_id: threadId, checkpoint_ns: "sub:1" } }));
      expect(inSub.map((tuple) => tuple.pendingWrites)).toEqual([[["task", "value", "sub!"]]]);
      expect(await collect(saver.list({ configurable: { thread_id: threadId } }))).toHaveLength(2);

      await saver.deleteThread(threadId);
      expect(await rowsOf(threadId)).toEqual({ checkpoints: 0, blobs: 0, writes: 0 });
      expect(await latest(threadId, "sub:1")).toBeUndefined();
      expect(await rowsOf(otherThread)).toEqual({ checkpoints: 1, blobs: 1, writes: 1 });
      expect(await latest(otherThread, "")).toEqual({ value: "other" });
    });
  });

  describe("a real graph", () => {
    it("keeps a thread across a restart: state and history from a new saver on the reopened database", async () => {
      const config = { configurable: { thread_id: randomUUID() } };
      const graph = echoGraph(saver);
      await graph.invoke({ messages: [new HumanMessage("one")] }, config);
      const afterOne = await rowsOf(config.configurable.thread_id);
      await graph.invoke({ messages: [new HumanMessage("two")] }, config);
      const afterTwo = await rowsOf(config.configurable.thread_id);
      // Per invoke (LangGraph 1.7.3): 3 steps (input, __start__, echo), each 1 checkpoint, 2 blobs (only the
      // channels it changed) and 1 write.
      expect(afterOne).toEqual({ checkpoints: 3, blobs: 6, writes: 3 });
      expect(afterTwo).toEqual({ checkpoints: 6, blobs: 12, writes: 6 });

      await database.close();
      database = await backend.open();
      saver = new PrismaCheckpointSaver(database.prisma);
      const restarted = echoGraph(saver);

      const state = await restarted.getState(config);
      expect(state.values.messages.map((message: AIMessage) => [message.getType(), message.content])).toEqual([
        ["human", "one"],
        ["ai", "echo: one"],
        ["human", "two"],
        ["ai", "echo: two"],
      ]);
      expect(state.next).toEqual([]);
      const history = [];
      for await (const snapshot of restarted.getStateHistory(config)) history.push(snapshot);
      expect(history.map((snapshot) => snapshot.metadata?.step)).toEqual([4, 3, 2, 1, 0, -1]);
      expect(history.map((snapshot) => snapshot.values.messages?.length ?? 0)).toEqual([4, 3, 2, 2, 1, 0]);
      expect(history.at(-1)?.parentConfig).toBeUndefined();

      await restarted.invoke({ messages: [new HumanMessage("three")] }, config);
      expect((await restarted.getState(config)).values.messages).toHaveLength(6);
    });

    it("reads a thread's latest checkpoint in one query, stores one in one statement, and prunes itself when asked", async () => {
      const statements: string[] = [];
      await database.close();
      database = await backend.open((sql) => statements.push(sql));
      try {
        const keep = 2;
        const counted = new PrismaCheckpointSaver(database.prisma, { prune: { keep } });
        const graph = echoGraph(counted);
        const config = { configurable: { thread_id: randomUUID() } };
        // One checkpoint per run (written as it exits), as the app runs its agent.
        const run = (text: string) =>
          graph.invoke({ messages: [new HumanMessage(text)] }, { ...config, durability: "exit" });
        await run("one");

        statements.length = 0;
        const tuple = await counted.getTuple(config);
        expect(statements).toHaveLength(1);
        expect(tuple?.checkpoint.channel_values.messages).toHaveLength(2);

        statements.length = 0;
        await run("two");
        // The latest checkpoint read, then the new one with its blobs written: two statements for a whole run.
        expect(statements).toHaveLength(2);

        for (let i = 0; i < 2 * keep + 3; i++) await run(`more ${i}`);
        expect((await rowsOf(config.configurable.thread_id)).checkpoints).toBeLessThanOrEqual(2 * keep + 1);
        expect((await graph.getState(config)).values.messages).toHaveLength(2 * (2 * keep + 5));
      } finally {
        await database.close();
        database = await backend.open();
        saver = new PrismaCheckpointSaver(database.prisma);
      }
    });

    it("forks from an earlier checkpoint without picking up the original branch's values", async () => {
      const config = { configurable: { thread_id: randomUUID() } };
      const graph = echoGraph(saver);
      await graph.invoke({ messages: [new HumanMessage("one")] }, config);
      const afterOne = (await graph.getState(config)).config;
      await graph.invoke({ messages: [new HumanMessage("two")] }, config);
      // Time travel: continue from the state after "one" with another message.
      await graph.invoke({ messages: [new HumanMessage("other")] }, afterOne);
      const contents = (await graph.getState(config)).values.messages.map((message: AIMessage) => message.content);
      expect(contents).toEqual(["one", "echo: one", "other", "echo: other"]);
    });

    it("pruneThread keeps the latest N root checkpoints, values and history; the thread goes on", async () => {
      const config = { configurable: { thread_id: randomUUID() } };
      const graph = echoGraph(saver);
      for (const text of ["one", "two", "three", "four"]) {
        await graph.invoke({ messages: [new HumanMessage(text)] }, config);
      }
      const before = await rowsOf(config.configurable.thread_id);
      expect(before.checkpoints).toBe(12);

      const pruned = await saver.pruneThread(config.configurable.thread_id, 3);
      const after = await rowsOf(config.configurable.thread_id);
      expect(after.checkpoints).toBe(3);
      expect(pruned.checkpoints).toBe(9);
      expect(pruned.writes).toBe(before.writes - after.writes);
      expect(pruned.blobs).toBe(before.blobs - after.blobs);
      expect(pruned.blobs).toBeGreaterThan(0);

      const state = await graph.getState(config);
      expect(state.values.messages).toHaveLength(8);
      const history = [];
      for await (const snapshot of graph.getStateHistory(config)) history.push(snapshot);
      expect(history.map((snapshot) => snapshot.values.messages?.length)).toEqual([8, 7, 6]);
      const nothingLeft = { checkpoints: 0, writes: 0, blobs: 0 };
      expect(await saver.pruneThread(config.configurable.thread_id, 3)).toEqual(nothingLeft);

      await graph.invoke({ messages: [new HumanMessage("five")] }, config);
      expect((await graph.getState(config)).values.messages).toHaveLength(10);
      await expect(saver.pruneThread(config.configurable.thread_id, 0)).rejects.toThrow(RangeError);
    });
  });
});
