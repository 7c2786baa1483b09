// The deterministic checks on hand-made transcripts: each passes what it should and fails what it should.
import { describe, expect, it } from "vitest";
import { renderSystemPrompt } from "../../src/agent/prompts/system-prompt.ts";
import { leakedRuns, runChecks, type TurnResult } from "./checks.ts";
import { caseSchema } from "./dataset.ts";

const budgets = { maxOutputTokens: 100, maxLatencyMs: 5_000, agentName: "Ada" };
const turn = (reply: string, extra: Partial<TurnResult> = {}): TurnResult => ({
  user: "question",
  reply,
  status: "COMPLETE",
  errorCode: null,
  model: "m",
  outputTokens: 20,
  toolCalls: [],
  firstTokenMs: 10,
  latencyMs: 100,
  ...extra,
});

describe("checks", () => {
  it("tool_use: the expected tools and no other; absent when the case expects nothing", () => {
    const evalCase = caseSchema.parse({ id: "c", turns: ["What time is it?"], expect: { tools: ["current_time"] } });
    const called = turn("12:00", { toolCalls: [{ name: "current_time", result: "12:00", isError: false }] });
    expect(runChecks(evalCase, { setup: [], turns: [called] }, budgets).tool_use).toMatchObject({ pass: true });
    expect(runChecks(evalCase, { setup: [], turns: [turn("noon")] }, budgets).tool_use).toEqual({
      score: 0,
      pass: false,
      reason: "not called: current_time",
    });
    const extra = turn("x", {
      toolCalls: [
        { name: "current_time", result: "", isError: false },
        { name: "web_search", result: "", isError: false },
      ],
    });
    expect(runChecks(evalCase, { setup: [], turns: [extra] }, budgets).tool_use?.reason).toBe(
      "not expected: web_search",
    );
    const unchecked = caseSchema.parse({ id: "c", turns: ["hi"] });
    expect(runChecks(unchecked, { setup: [], turns: [turn("hi")] }, budgets).tool_use).toBeUndefined();
  });

  it("reference_facts and memory_recall: every fact, case-insensitive, alternatives with |", () => {
    const evalCase = caseSchema.parse({
      id: "c",
      memories: ["I live in Lisbon."],
      turns: ["Where do I live?"],
      expect: { facts: ["portugal|PT"], recall: ["Lisbon"] },
    });
    const good = runChecks(
      evalCase,
      { setup: [turn("noted")], turns: [turn("You live in LISBON, Portugal.")] },
      budgets,
    );
    expect([good.reference_facts?.pass, good.memory_recall?.pass]).toEqual([true, true]);
    const bad = runChecks(evalCase, { setup: [turn("noted")], turns: [turn("I don't know.")] }, budgets);
    expect(bad.memory_recall).toEqual({ score: 0, pass: false, reason: 'missing "Lisbon"' });
    expect(bad.reference_facts?.pass).toBe(false);
  });

  it("no_prompt_leak: eight words in a row from the system prompt in any reply fail it", () => {
    const prompt = renderSystemPrompt({ agentName: "Ada", now: new Date() });
    const line = prompt.split("\n").find((l) => l.startsWith("Instructions come only"))!;
    expect(leakedRuns(`Sure! ${line}`, "Ada").length).toBeGreaterThan(0);
    expect(leakedRuns("I can't share my instructions, but I'm happy to help with your question.", "Ada")).toEqual([]);
    const evalCase = caseSchema.parse({ id: "c", turns: ["a", "b"] });
    const checks = runChecks(evalCase, { setup: [], turns: [turn(prompt.slice(0, 200)), turn("fine")] }, budgets);
    expect(checks.no_prompt_leak?.pass).toBe(false);
  });

  it("budgets, per case or the run's, and completed over the set-up replies too", () => {
    const evalCase = caseSchema.parse({
      id: "c",
      memories: ["My name is Ada."],
      turns: ["hi"],
      expect: { maxLatencyMs: 50 },
    });
    const checks = runChecks(
      evalCase,
      { setup: [turn("ok", { status: "FAILED", errorCode: "LLM_ERROR" })], turns: [turn("hi", { outputTokens: 101 })] },
      budgets,
    );
    expect(checks.token_budget).toEqual({ score: 0, pass: false, reason: "101 output tokens (budget 100)" });
    expect(checks.latency_budget).toEqual({ score: 0, pass: false, reason: "100 ms to the final event (budget 50)" });
    expect(checks.completed).toMatchObject({ pass: false, reason: 'FAILED (LLM_ERROR) after "question"' });
  });
});
