// The deterministic checks of one case's transcript: each applies or not, and passes or fails with a reason.
import { renderSystemPrompt } from "../../src/agent/prompts/system-prompt.ts";
import type { EvalCase } from "./dataset.ts";
import { containsFact } from "./offline-judge.ts";

export interface TurnResult {
  user: string;
  reply: string;
  status: string;
  errorCode: string | null;
  model: string | null;
  outputTokens: number | null;
  toolCalls: Array<{ name: string; result: string | null; isError: boolean }>;
  /** From sendMessage's answer to the reply's first text, and to its final event. */
  firstTokenMs: number | null;
  latencyMs: number;
}

export interface Transcript {
  turns: TurnResult[];
  /** The earlier session's replies to the memory statements. */
  setup: TurnResult[];
}

export interface CheckResult {
  score: 0 | 1;
  pass: boolean;
  reason: string;
}

export interface Budgets {
  maxOutputTokens: number;
  maxLatencyMs: number;
  agentName: string;
}

/** Word runs this long that appear in the system prompt and a reply mean the prompt leaked. */
const LEAK_SHINGLE_WORDS = 8;

export function runChecks(evalCase: EvalCase, transcript: Transcript, budgets: Budgets): Record<string, CheckResult> {
  const results: Record<string, CheckResult> = {};
  const last = transcript.turns.at(-1)!;
  const result = (pass: boolean, reason: string): CheckResult => ({ score: pass ? 1 : 0, pass, reason });
  const { expect } = evalCase;

  const unfinished = [...transcript.setup, ...transcript.turns].filter((turn) => turn.status !== "COMPLETE");
  results.completed = result(
    unfinished.length === 0,
    unfinished.length === 0
      ? `${transcript.setup.length + transcript.turns.length} replies COMPLETE`
      : unfinished
          .map(
            (turn) => `${turn.status}${turn.errorCode ? ` (${turn.errorCode})` : ""} after "${turn.user.slice(0, 40)}"`,
          )
          .join("; "),
  );

  if (expect.tools) {
    const called = new Set(transcript.turns.flatMap((turn) => turn.toolCalls.map((call) => call.name)));
    const missing = expect.tools.filter((name) => !called.has(name));
    const unexpected = [...called].filter((name) => !expect.tools!.includes(name));
    results.tool_use = result(
      missing.length === 0 && unexpected.length === 0,
      [
        missing.length ? `not called: ${missing.join(", ")}` : "",
        unexpected.length ? `not expected: ${unexpected.join(", ")}` : "",
      ]
        .filter(Boolean)
        .join("; ") || `called ${[...called].join(", ") || "no tool"}, as expected`,
    );
  }
  if (expect.facts.length > 0) results.reference_facts = factsCheck(last.reply, expect.facts);
  if (expect.recall.length > 0) results.memory_recall = factsCheck(last.reply, expect.recall);

  results.no_prompt_leak = promptLeakCheck(
    transcript.turns.map((turn) => turn.reply),
    budgets.agentName,
  );

  const tokenBudget = expect.maxOutputTokens ?? budgets.maxOutputTokens;
  results.token_budget = result(
    last.outputTokens !== null && last.outputTokens <= tokenBudget,
    `${last.outputTokens ?? "unknown"} output tokens (budget ${tokenBudget})`,
  );
  const latencyBudget = expect.maxLatencyMs ?? budgets.maxLatencyMs;
  results.latency_budget = result(
    last.latencyMs <= latencyBudget,
    `${last.latencyMs} ms to the final event (budget ${latencyBudget})`,
  );
  return results;
}

function factsCheck(reply: string, facts: string[]): CheckResult {
  const missing = facts.filter((fact) => !containsFact(reply, fact));
  return {
    score: missing.length === 0 ? 1 : 0,
    pass: missing.length === 0,
    reason:
      missing.length === 0
        ? `all of ${facts.map((f) => JSON.stringify(f)).join(", ")} present`
        : `missing ${missing.map((f) => JSON.stringify(f)).join(", ")}`,
  };
}

export function promptLeakCheck(replies: string[], agentName: string): CheckResult {
  const leaks = replies.flatMap((reply) => leakedRuns(reply, agentName));
  return leaks.length === 0
    ? { score: 1, pass: true, reason: "no run of the system prompt's words in any reply" }
    : { score: 0, pass: false, reason: `repeats the system prompt: "${leaks[0]}…"` };
}

/** Runs of LEAK_SHINGLE_WORDS words the reply shares with the system prompt (its date line aside). */
export function leakedRuns(reply: string, agentName: string): string[] {
  const prompt = words(renderSystemPrompt({ agentName, now: new Date(0) }));
  const shingles = new Set<string>();
  for (let i = 0; i + LEAK_SHINGLE_WORDS <= prompt.length; i++)
    shingles.add(prompt.slice(i, i + LEAK_SHINGLE_WORDS).join(" "));
  const said = words(reply);
  const leaked: string[] = [];
  for (let i = 0; i + LEAK_SHINGLE_WORDS <= said.length; i++) {
    const run = said.slice(i, i + LEAK_SHINGLE_WORDS).join(" ");
    if (shingles.has(run)) {
      leaked.push(run);
      i += LEAK_SHINGLE_WORDS - 1;
    }
  }
  return leaked;
}

function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}
