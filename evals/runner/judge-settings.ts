// Which judge grades: a model behind any OpenAI-compatible API when EVAL_JUDGE_MODEL is set (its own base URL and
// key, never the model under test's), else the offline deterministic judge.
import type { Judge } from "./judges.ts";
import { LlmJudge } from "./judges.ts";
import { OfflineJudge } from "./offline-judge.ts";

export function judgeFromEnv(env: Record<string, string | undefined>): Judge {
  const model = env.EVAL_JUDGE_MODEL?.trim();
  if (!model) return new OfflineJudge();
  const baseUrl = env.EVAL_JUDGE_BASE_URL?.trim() || undefined;
  const apiKey = env.EVAL_JUDGE_API_KEY?.trim();
  // A local server (vLLM, Ollama) may need no key, but the client insists on one.
  if (!apiKey && !baseUrl)
    throw new Error(
      "EVAL_JUDGE_MODEL is set: set EVAL_JUDGE_API_KEY too (and EVAL_JUDGE_BASE_URL for a server other than OpenAI)",
    );
  return new LlmJudge({
    model,
    baseUrl,
    apiKey: apiKey || "not-needed",
    timeoutMs: Number(env.EVAL_JUDGE_TIMEOUT_MS ?? 60_000),
  });
}
