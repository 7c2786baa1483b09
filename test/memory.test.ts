// Long-term memory through the GraphQL API: reading, searching and forgetting memories, and their privacy.
// Memories are written by the app's own MemoryService (what the reply pipeline calls after each turn), then
// everything else goes over HTTP with real clients.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_RECALL_PREFIX } from "../src/agent/memory/dev-memory.ts";
import {
  ClearMemoriesDocument,
  DeleteMemoryDocument,
  MemoryNodeDocument,
  MyMemoriesDocument,
} from "./generated/graphql.ts";
import { createSession, graphql, sendAndCollectReply, signUp, type SignedUpUser } from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.cleanup();
});

/** The database id inside a Relay global id ("User:<uuid>", base64). */
const rawId = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;

async function myMemories(user: SignedUpUser, variables: Record<string, unknown> = {}) {
  const result = await graphql(app.graphqlUrl, MyMemoriesDocument, { first: 20, ...variables }, user.token);
  expect(result.errors).toBeUndefined();
  return result.data!.me!.memories;
}
const deleteMemory = (user: SignedUpUser, memoryId: string) =>
  graphql(app.graphqlUrl, DeleteMemoryDocument, { input: { memoryId } }, user.token);
/** Without a token: as an anonymous caller. */
const clearMemories = (user?: SignedUpUser) => graphql(app.graphqlUrl, ClearMemoriesDocument, {}, user?.token);
const contentsOf = async (user: SignedUpUser, variables?: Record<string, unknown>) =>
  (await myMemories(user, variables)).edges.map((edge) => edge.node.content).sort();

/** What the reply pipeline does after each user turn, done directly. */
async function tell(user: SignedUpUser, message: string) {
  app.memories.afterUserTurn(rawId(user.userId), message);
  await app.memories.idle();
}

describe("me.memories, deleteMemory, clearMemories", () => {
  it("lists the viewer's memories newest first, pages with cursors and filters by full-text query", async () => {
    const ada = await signUp(app.graphqlUrl);
    expect(await contentsOf(ada)).toEqual([]);
    await tell(ada, "My name is Ada and I live in London.");
    await tell(ada, "I like green tea. I work at the Analytical Engine Company.");
    expect(await contentsOf(ada)).toEqual([
      "User likes green tea",
      "User lives in London",
      "User works at the Analytical Engine Company",
      "User's name is Ada",
    ]);

    const all = await myMemories(ada);
    const times = all.edges.map((edge) => Date.parse(edge.node.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const page1 = await myMemories(ada, { first: 3 });
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const page2 = await myMemories(ada, { first: 3, after: page1.pageInfo.endCursor });
    expect(page2.pageInfo.hasNextPage).toBe(false);
    expect([...page1.edges, ...page2.edges].map((edge) => edge.node.id)).toEqual(all.edges.map((edge) => edge.node.id));

    expect(await contentsOf(ada, { query: "tea" })).toEqual(["User likes green tea"]);
    expect(await contentsOf(ada, { query: "london OR tea" })).toEqual(["User likes green tea", "User lives in London"]);
    expect(await contentsOf(ada, { query: "nothing-like-this" })).toEqual([]);
    const bad = await graphql(app.graphqlUrl, MyMemoriesDocument, { first: 2, after: "not-a-cursor" }, ada.token);
    expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("deletes one memory and clears all, for the viewer only", async () => {
    const ada = await signUp(app.graphqlUrl);
    const eve = await signUp(app.graphqlUrl);
    await tell(ada, "My name is Ada. I live in London. I like green tea.");
    await tell(eve, "I live in Paris");
    const [first, ...rest] = (await myMemories(ada)).edges.map((edge) => edge.node);
    expect(rest.length).toBeGreaterThan(0); // something left for clearMemories to clear

    const deleted = await deleteMemory(ada, first!.id);
    expect(deleted.errors).toBeUndefined();
    expect(deleted.data!.deleteMemory.deletedMemoryId).toBe(first!.id);
    expect((await myMemories(ada)).edges.map((edge) => edge.node.id)).toEqual(rest.map((memory) => memory.id));
    const again = await deleteMemory(ada, first!.id);
    expect(again.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");

    const cleared = await clearMemories(ada);
    expect(cleared.data!.clearMemories.deletedCount).toBe(rest.length);
    expect(await contentsOf(ada)).toEqual([]);
    expect((await clearMemories(ada)).data!.clearMemories.deletedCount).toBe(0);
    expect(await contentsOf(eve)).toEqual(["User lives in Paris"]); // for the viewer only

    const anonymous = await clearMemories();
    expect(anonymous.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("never shows, deletes or clears another user's memories (NOT_FOUND / null, as for an unknown id)", async () => {
    const ada = await signUp(app.graphqlUrl);
    const eve = await signUp(app.graphqlUrl);
    await tell(ada, "I live in London");
    await tell(eve, "I live in Paris");
    const [adaMemory] = (await myMemories(ada)).edges.map((edge) => edge.node);

    expect(await contentsOf(eve)).toEqual(["User lives in Paris"]);
    expect(await contentsOf(eve, { query: "London" })).toEqual([]);
    const own = await graphql(app.graphqlUrl, MemoryNodeDocument, { id: adaMemory!.id }, ada.token);
    expect(own.data!.node).toEqual({ id: adaMemory!.id, content: "User lives in London" });
    const peek = await graphql(app.graphqlUrl, MemoryNodeDocument, { id: adaMemory!.id }, eve.token);
    expect(peek.data!.node).toBeNull();
    expect(JSON.stringify(peek)).not.toContain("London");

    const stolen = await deleteMemory(eve, adaMemory!.id);
    expect(stolen.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const unknown = Buffer.from("Memory:00000000-0000-7000-8000-000000000000").toString("base64");
    const missing = await deleteMemory(eve, unknown);
    expect(missing.errors?.[0]).toMatchObject({
      message: stolen.errors?.[0]?.message,
      extensions: { code: "NOT_FOUND" },
    });
    // A global id of another type is malformed input, not a lookup.
    const wrongType = await deleteMemory(ada, ada.userId);
    expect(wrongType.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");

    expect((await clearMemories(eve)).data!.clearMemories.deletedCount).toBe(1);
    expect(await contentsOf(ada)).toEqual(["User lives in London"]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// NEEDS THE REPLY-PIPELINE INTEGRATION (not in the memory commit): ReplyService calls
// `memories.afterUserTurn(userId, userMessage)` after each reply, and the graph's recall node puts
// `memories.recall(userId, lastUserMessage)` into the system prompt, whose memory lines the offline dev model echoes
// at the end of its reply ("I remember from earlier conversations: …"). Nothing here calls the service directly.
// ---------------------------------------------------------------------------------------------------------------

/** Sends a message and returns the completed reply's text. */
async function converse(user: SignedUpUser, sessionId: string, content: string): Promise<string> {
  // Throws if sendMessage answers with errors.
  const { events } = await sendAndCollectReply(app, user, { sessionId, content });
  const last = events.at(-1)!;
  expect(last.__typename).toBe("MessageCompleted");
  return last.message!.content;
}

/** Polls until `check` passes: extraction runs in the background after the reply. */
async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe("memory across sessions (needs the integration above)", () => {
  it("remembers what the user said in one session and recalls it into another session's prompt", async () => {
    const ada = await signUp(app.graphqlUrl);
    const first = await createSession(app.graphqlUrl, ada.token, "Introductions");
    const hello = await converse(ada, first, "Hi! My name is Ada and I live in Berlin.");
    expect(hello).not.toContain(DEV_RECALL_PREFIX); // nothing was known before this turn

    // INTEGRATION: afterUserTurn(userId, "Hi! My name is Ada and I live in Berlin.") after the reply.
    await eventually(async () => expect(await contentsOf(ada)).toEqual(["User lives in Berlin", "User's name is Ada"]));

    // INTEGRATION: the recall node feeds the system prompt of a new session; the dev model names what it got.
    const second = await createSession(app.graphqlUrl, ada.token, "Travel");
    const answer = await converse(ada, second, "Where do I live?");
    expect(answer).toContain(`${DEV_RECALL_PREFIX} User lives in Berlin.`);
    expect(answer).not.toContain("name is Ada"); // recall is ranked: only the fact the question is about

    // A question adds no memory; a changed fact replaces the old one.
    await converse(ada, second, "I moved to Hamburg.");
    await eventually(async () =>
      expect(await contentsOf(ada)).toEqual(["User lives in Hamburg", "User's name is Ada"]),
    );
    expect(await converse(ada, first, "Where do I live now?")).toContain(`${DEV_RECALL_PREFIX} User lives in Hamburg.`);

    // Another user's prompt never gets Ada's memories.
    const eve = await signUp(app.graphqlUrl);
    const hers = await createSession(app.graphqlUrl, eve.token);
    const eveAnswer = await converse(eve, hers, "Where do I live?");
    expect(eveAnswer).not.toContain(DEV_RECALL_PREFIX);
    expect(eveAnswer).not.toContain("Hamburg");
  });
});
