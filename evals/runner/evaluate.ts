// Grades a dataset: each case runs through the pipeline (retried when the run itself breaks, never when it merely
// scores badly), then every check and judge metric scores it.
import { ExponentialBackoff, handleAll, retry } from "cockatiel";
import { type Budgets, runChecks, type Transcript, type TurnResult } from "./checks.ts";
import type { EvalCase } from "./dataset.ts";
import type { Judge, JudgeInput } from "./judges.ts";
import { type JudgeMetric, normalizeScore } from "./metrics.ts";

export interface Score {
  /** In [0, 1], higher is better. */
  score: number;
  pass: boolean;
  reason: string;
}

export interface CaseResult {
  id: string;
  notes?: string;
  turns: TurnResult[];
  setup: TurnResult[];
  scores: Record<string, Score>;
  /** Set when the case could not be run at all (after its retries). */
  error?: string;
}

export interface EvaluateOptions {
  run(evalCase: EvalCase): Promise<Transcript>;
  judge: Judge;
  metrics: JudgeMetric[];
  budgets: Budgets;
  concurrency: number;
  /** Further attempts at a case whose run throws, and at a grading that fails. */
  retries: number;
  onCaseDone?(result: CaseResult): void;
}

export type RetryPolicy = ReturnType<typeof retry>;

/** `retries` further attempts, backing off from half a second to five. */
export function retryPolicy(retries: number): RetryPolicy {
  return retry(handleAll, {
    maxAttempts: retries,
    backoff: new ExponentialBackoff({ initialDelay: 500, maxDelay: 5_000 }),
  });
}

export async function evaluate(cases: EvalCase[], options: EvaluateOptions): Promise<CaseResult[]> {
  const policy = retryPolicy(options.retries);
  return mapConcurrently(cases, options.concurrency, async (evalCase) => {
    let result: CaseResult;
    try {
      const transcript = await policy.execute(() => options.run(evalCase));
      result = {
        id: evalCase.id,
        notes: evalCase.notes,
        ...transcript,
        scores: await score(evalCase, transcript, options, policy),
      };
    } catch (error) {
      const reason = `the case could not be run: ${(error as Error).message}`;
      result = {
        id: evalCase.id,
        notes: evalCase.notes,
        turns: [],
        setup: [],
        error: reason,
        scores: { completed: { score: 0, pass: false, reason } },
      };
    }
    options.onCaseDone?.(result);
    return result;
  });
}

async function score(
  evalCase: EvalCase,
  transcript: Transcript,
  options: EvaluateOptions,
  policy: RetryPolicy,
): Promise<Record<string, Score>> {
  return {
    ...runChecks(evalCase, transcript, options.budgets),
    ...(await gradeWithJudge(options.judge, options.metrics, judgeInput(evalCase, transcript), policy)),
  };
}

/** Every judge metric's score (higher is better); a grading that still fails after its retries scores 0. */
export async function gradeWithJudge(
  judge: Judge,
  metrics: JudgeMetric[],
  input: JudgeInput,
  policy: RetryPolicy,
): Promise<Record<string, Score>> {
  const scores: Record<string, Score> = {};
  for (const metric of metrics) {
    try {
      const verdict = await policy.execute(() => judge.grade(metric, input));
      const value = round(normalizeScore(metric, verdict.raw));
      scores[metric.name] = { score: value, pass: value >= metric.threshold, reason: verdict.reason };
    } catch (error) {
      scores[metric.name] = { score: 0, pass: false, reason: `the judge failed: ${(error as Error).message}` };
    }
  }
  return scores;
}

function judgeInput(evalCase: EvalCase, { turns }: Transcript): JudgeInput {
  return {
    conversation: turns.flatMap((turn) => [
      { role: "user" as const, content: turn.user },
      { role: "assistant" as const, content: turn.reply },
    ]),
    reply: turns.at(-1)?.reply ?? "",
    toolResults: turns.flatMap((turn) =>
      turn.toolCalls.map((call) => ({ name: call.name, result: call.result ?? "" })),
    ),
    memories: evalCase.memories,
    reference: [...evalCase.expect.facts, ...evalCase.expect.recall],
  };
}

/** `fn` over `items`, at most `limit` at once, results in input order. */
export async function mapConcurrently<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const round = (value: number) => Math.round(value * 1000) / 1000;
