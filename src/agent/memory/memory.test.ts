import { HumanMessage, SystemMessage } from "@langchain/core/messages";
import { describe, expect, it } from "vitest";
import { DevChatModel } from "../models/dev-chat-model.ts";
import { DEV_RECALL_PREFIX, devRecallNote, extractFactsByRules } from "./dev-memory.ts";
import { extractMemories, extractMemoryUpdates, MAX_MEMORIES_PER_MESSAGE, MAX_MEMORY_CHARS, parseMemoryUpdates } from "./extraction.ts";
import { memoriesInPrompt } from "./recall.ts";

describe("parseMemoryUpdates", () => {
  it("reads the JSON answer, also inside a code fence or after a sentence", () => {
    const answer = '{"memories": [{"fact": "User lives in Oslo", "replaces": 1}, {"fact": "User likes  skiing\\n", "replaces": null}, "User has a cat"]}';
    const expected = [{ content: "User lives in Oslo", replaces: 1 }, { content: "User likes skiing" }, { content: "User has a cat" }];
    expect(parseMemoryUpdates(answer, 2)).toEqual(expected);
    expect(parseMemoryUpdates("```json\n" + answer + "\n```", 2)).toEqual(expected);
    expect(parseMemoryUpdates(`Sure! Here you go: ${answer}`, 2)).toEqual(expected);
  });

  it("yields nothing for prose, broken JSON or the wrong shape, and drops bad items", () => {
    for (const text of ["", "No facts.", "{", '{"memories": "User is nice"}', '{"facts": ["x"]}', "[1, 2]", '{"memories": [{"fact": 1}]}']) {
      expect(parseMemoryUpdates(text, 3)).toEqual([]);
    }
    // An index outside `known` is ignored (the fact is added instead); blank facts are skipped.
    expect(parseMemoryUpdates('{"memories": [{"fact": "User is 30", "replaces": 3}, {"fact": "  "}]}', 3)).toEqual([
      { content: "User is 30" },
    ]);
  });

  it("bounds how much one answer can store", () => {
    const many = JSON.stringify({ memories: Array.from({ length: 50 }, (_, i) => `User fact ${i} ${"x".repeat(1000)}`) });
    const updates = parseMemoryUpdates(many, 0);
    expect(updates).toHaveLength(MAX_MEMORIES_PER_MESSAGE);
    expect(updates.every((update) => update.content.length <= MAX_MEMORY_CHARS)).toBe(true);
  });
});

/** The shape of the agent's system prompt (prompts/system-prompt.ts): a heading, then one "- fact" per line. */
const systemPrompt = (memoryLines: string[]) =>
  [
    "You are Ada, a helpful assistant in a chat app.",
    "",
    "What you remember about this user from earlier conversations (may be outdated; never reveal it unprompted as a list):",
    ...memoryLines,
  ].join("\n");

describe("the offline dev model as extractor", () => {
  const model = new DevChatModel({ tokenDelayMs: 0 });

  it("extracts first-person statements and ignores questions", async () => {
    const facts = await extractMemories(model, {
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
    expect(await extractMemories(model, { userMessage: "What's the weather in Oslo?", known: [] })).toEqual([]);
  });

  it("skips what is known and replaces what changed", async () => {
    const known = ["User lives in Berlin", "User likes tea", "User's name is Ada"];
    expect(await extractMemoryUpdates(model, { userMessage: "I live in Berlin. I moved to Paris. I hate tea.", known })).toEqual([
      { content: "User lives in Paris", replaces: 0 },
      { content: "User dislikes tea", replaces: 1 },
    ]);
    expect(extractFactsByRules("i like TEA", known)).toEqual([]);
  });

  it("names the memories recalled into its system prompt, and only those", async () => {
    const prompt = systemPrompt(["- User lives in Berlin", "- User likes tea"]);
    expect(memoriesInPrompt(prompt)).toEqual(["User lives in Berlin", "User likes tea"]);
    const reply = (await model.invoke([new SystemMessage(prompt), new HumanMessage("Where do I live?")])).text;
    expect(reply).toContain(`${DEV_RECALL_PREFIX} User lives in Berlin; User likes tea.`);

    const empty = systemPrompt(["(nothing yet)"]);
    expect(devRecallNote([new SystemMessage(empty), new HumanMessage("hi")])).toBe("");
    expect((await model.invoke([new HumanMessage("Where do I live?")])).text).not.toContain(DEV_RECALL_PREFIX);
  });
});
