// Judges grade a reply on one metric: a real model behind any OpenAI-compatible API (EVAL_JUDGE_*), or, offline,
// the deterministic judge (offline-judge.ts). Both answer a raw score in [0, 1] in the metric's own polarity and
// a one-sentence reason.
import { ChatOpenAI } from "@langchain/openai";
import type { JudgeMetric } from "./metrics.ts";

export interface JudgeInput {
  /** The whole conversation of the graded session, oldest first, ending with the graded reply. */
  conversation: Array<{ role: "user" | "assistant"; content: string }>;
  reply: string;
  /** What the agent had besides the conversation: its tools' results, and what the user said in earlier sessions. */
  toolResults: Array<{ name: string; result: string }>;
  memories: string[];
  /** Facts the reply should contain, if the case names any. */
  reference: string[];
}

export interface Verdict {
  raw: number;
  reason: string;
}

export interface Judge {
  /** e.g. "offline-deterministic-judge" or the judge model's name, recorded in every report. */
  readonly name: string;
  grade(metric: JudgeMetric, input: JudgeInput): Promise<Verdict>;
}

const ANSWER_FORMAT =
  'Answer with one JSON object and nothing else: {"score": <number from 0 to 1>, "reason": "<one short sentence>"}';

function renderJudgePrompt(metric: JudgeMetric, input: JudgeInput): string {
  const values: Record<string, string> = {
    conversation: input.conversation.map(({ role, content }) => `${role}: ${content}`).join("\n\n"),
    reply: input.reply,
    context: contextLines(input).join("\n") || "(none)",
    reference: input.reference.join("\n") || "(none)",
  };
  return `${metric.prompt.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => values[key] ?? whole)}\n\n${ANSWER_FORMAT}`;
}

export function contextLines({ toolResults, memories }: Pick<JudgeInput, "toolResults" | "memories">): string[] {
  return [
    ...toolResults.map(({ name, result }) => `The ${name} tool returned: ${result}`),
    ...memories.map((statement) => `In an earlier conversation the user said: ${statement}`),
  ];
}

/** The judge's answer as a verdict; throws on anything else (the caller retries). */
export function parseVerdict(answer: string): Verdict {
  const json = /\{[\s\S]*\}/.exec(answer)?.[0];
  if (!json) throw new Error(`the judge answered no JSON object: ${answer.slice(0, 200)}`);
  const parsed = JSON.parse(json) as { score?: unknown; reason?: unknown };
  const score = typeof parsed.score === "string" ? Number(parsed.score) : parsed.score;
  if (typeof score !== "number" || !Number.isFinite(score) || score < 0 || score > 1) {
    throw new Error(`the judge's score is not a number from 0 to 1: ${JSON.stringify(parsed.score)}`);
  }
  return { raw: score, reason: typeof parsed.reason === "string" ? parsed.reason : "" };
}

export interface LlmJudgeSettings {
  model: string;
  baseUrl: string | undefined;
  apiKey: string;
  timeoutMs: number;
}

export class LlmJudge implements Judge {
  readonly name: string;
  private readonly chat: ChatOpenAI;

  constructor({ model, baseUrl, apiKey, timeoutMs }: LlmJudgeSettings) {
    this.name = model;
    this.chat = new ChatOpenAI({
      model,
      apiKey,
      temperature: 0,
      maxTokens: 300,
      timeout: timeoutMs,
      // The runner retries a whole grading (bad JSON included); retries inside the SDK would multiply them.
      maxRetries: 0,
      configuration: baseUrl ? { baseURL: baseUrl } : undefined,
    });
  }

  async grade(metric: JudgeMetric, input: JudgeInput): Promise<Verdict> {
    const answer = await this.chat.invoke([{ role: "user", content: renderJudgePrompt(metric, input) }]);
    return parseVerdict(answer.text);
  }
}
