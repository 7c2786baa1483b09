import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { HumanMessage, SystemMessage } from "@langchain/core/messages";
import { FakeListChatModel } from "@langchain/core/utils/testing";
import { describe, expect, it } from "vitest";
import { DevChatModel } from "../models/dev-chat-model.ts";
import type { ChatStream } from "../models/model-call.ts";
import { ResilientChatModel } from "../models/resilient-chat.ts";
import { DEV_RECALL_PREFIX, devRecallNote } from "./dev-memory.ts";
import {
  extractMemoryUpdates,
  MAX_MEMORIES_PER_MESSAGE,
  MAX_MEMORY_CHARS,
  parseMemoryUpdates,
  type MemoryExtractionInput,
} from "./extraction.ts";
import { memoriesInNote, renderMemoryNote, renderSystemPrompt } from "../prompts/system-prompt.ts";

/** The facts alone (new or restated), without which stored fact each replaces. */
async function extractMemories(chat: ChatStream, input: MemoryExtractionInput): Promise<string[]> {
  return (await extractMemoryUpdates(chat, input, { signal: new AbortController().signal })).map(
    (update) => update.content,
  );
}

describe("parseMemoryUpdates", () => {
  it("reads the JSON answer, also inside a code fence or after a sentence", () => {
    const answer =
      '{"memories": [{"fact": "User lives in Oslo", "replaces": 1}, {"fact": "User likes  skiing\\n", "replaces": null}, "User has a cat"]}';
    const expected = [
      { content: "User lives in Oslo", replaces: 1 },
      { content: "User likes skiing" },
      { content: "User has a cat" },
    ];
    expect(parseMemoryUpdates(answer, 2)).toEqual(expected);
    expect(parseMemoryUpdates(`\`\`\`json\n${answer}\n\`\`\``, 2)).toEqual(expected);
    expect(parseMemoryUpdates(`Sure! Here you go: ${answer}`, 2)).toEqual(expected);
  });

  it("yields nothing for prose, broken JSON or the wrong shape, and drops bad items", () => {
    for (const text of [
      "",
      "No facts.",
      "{",
      '{"memories": "User is nice"}',
      '{"facts": ["x"]}',
      "[1, 2]",
      '{"memories": [{"fact": 1}]}',
    ]) {
      expect(parseMemoryUpdates(text, 3)).toEqual([]);
    }
    // An index outside `known` is ignored (the fact is added instead); blank facts are skipped.
    expect(parseMemoryUpdates('{"memories": [{"fact": "User is 30", "replaces": 3}, {"fact": "  "}]}', 3)).toEqual([
      { content: "User is 30" },
    ]);
  });

  it("bounds how much one answer can store: facts over MAX_MEMORY_CHARS are refused, and at most 10 are taken", () => {
    const long = JSON.stringify({
      memories: Array.from({ length: 50 }, (_, i) => `User fact ${i} ${"x".repeat(1000)}`),
    });
    expect(parseMemoryUpdates(long, 0)).toEqual([]);
    const limit = `User is ${"very ".repeat(60)}tall`.slice(0, MAX_MEMORY_CHARS);
    expect(parseMemoryUpdates(JSON.stringify({ memories: [limit] }), 0)).toEqual([{ content: limit }]);
    const many = JSON.stringify({ memories: Array.from({ length: 50 }, (_, i) => `User owns ${i + 2} cats`) });
    expect(parseMemoryUpdates(many, 0)).toHaveLength(MAX_MEMORIES_PER_MESSAGE);
  });
});

/** Extraction runs through the same resilient model path as replies. */
function resilient(model: BaseChatModel): ChatStream {
  return new ResilientChatModel([{ name: "model", model }], {
    attemptTimeoutMs: 5_000,
    totalDeadlineMs: 5_000,
    maxRetries: 0,
    breaker: { failureThreshold: 5, cooldownMs: 1_000 },
  });
}

describe("extraction through a scripted model", () => {
  // What a model answers is scripted here; the offline dev model's few rules are not taught every phrasing.
  it("extracts first-person statements and ignores questions", async () => {
    const answers = [
      JSON.stringify({
        memories: [
          "User's name is Grace Hopper",
          { fact: "User lives in Arlington", replaces: null },
          "User works as a rear admiral",
          "User loves COBOL",
          "User's favorite drink is coffee",
          { fact: "User dislikes meetings" },
          "User's name is Amazing Grace",
        ],
      }),
      '{"memories": []}',
    ];
    const model = new FakeListChatModel({ responses: answers });
    const chat = resilient(model);
    const facts = await extractMemories(chat, {
      userMessage:
        "Hello, my name is Grace Hopper and I live in Arlington. I work as a rear admiral; I love COBOL. " +
        "Where do I work? My favorite drink is coffee. I don't like meetings. Call me Amazing Grace!",
      known: [],
    });
    expect(facts).toEqual([
      "User's name is Grace Hopper",
      "User lives in Arlington",
      "User works as a rear admiral",
      "User loves COBOL",
      "User's favorite drink is coffee",
      "User dislikes meetings",
      "User's name is Amazing Grace",
    ]);
    expect(await extractMemories(chat, { userMessage: "What's the weather in Oslo?", known: [] })).toEqual([]);
  });

  it("skips what is known and replaces what changed", async () => {
    const known = ["User lives in Berlin", "User likes tea", "User's name is Ada"];
    const input = { userMessage: "I live in Berlin. I moved to Paris. I hate tea.", known };
    const answer = {
      memories: [
        { fact: "User lives in Paris", replaces: 0 },
        { fact: "User dislikes tea", replaces: 1 },
      ],
    };
    const chat = resilient(new FakeListChatModel({ responses: [JSON.stringify(answer)] }));
    expect(await extractMemoryUpdates(chat, input, { signal: new AbortController().signal })).toEqual([
      { content: "User lives in Paris", replaces: 0 },
      { content: "User dislikes tea", replaces: 1 },
    ]);
    // The offline dev model, too, leaves alone what it was told is known.
    const dev = resilient(new DevChatModel({ tokenDelayMs: 0 }));
    expect(
      await extractMemoryUpdates(dev, { userMessage: "i like TEA", known }, { signal: new AbortController().signal }),
    ).toEqual([]);
  });
});

describe("the offline dev model's memory", () => {
  const model = new DevChatModel({ tokenDelayMs: 0 });

  it("names the memories recalled into its memory note, and only those; the note is not a user turn", async () => {
    const note = renderMemoryNote(["User lives in Berlin", "User likes tea"])!;
    expect(memoriesInNote(note)).toEqual(["User lives in Berlin", "User likes tea"]);
    const system = new SystemMessage(renderSystemPrompt({ agentName: "Ada", now: new Date() }));
    const reply = (await model.invoke([system, new HumanMessage(note), new HumanMessage("Where do I live?")])).text;
    expect(reply).toContain(`${DEV_RECALL_PREFIX} User lives in Berlin; User likes tea.`);
    expect(reply).toContain(`You said: "Where do I live?" (turn 1 of this conversation)`);

    expect(renderMemoryNote([])).toBeUndefined();
    expect(devRecallNote([system, new HumanMessage("hi")])).toBe("");
    // A user who types something shaped like a note is just a user.
    expect(devRecallNote([new HumanMessage("- User lives in Berlin")])).toBe("");
    expect((await model.invoke([new HumanMessage("Where do I live?")])).text).not.toContain(DEV_RECALL_PREFIX);
  });
});
