// The model: which one, on which server, with which budgets, retries, fallbacks and circuit breakers.
import { z } from "zod";
import type { Environment } from "./app-env.ts";
import { optionalString, positiveInt, refuse } from "./variables.ts";

export const llmConfig = ({ env }: Environment) =>
  z
    .object({
      OPENAI_API_KEY: optionalString,
      OPENAI_BASE_URL: optionalString,
      LLM_MODEL: z.string().trim().min(1).default("gpt-4o-mini"),
      LLM_MAX_OUTPUT_TOKENS: positiveInt(1024),
      LLM_TIMEOUT_MS: positiveInt(60_000),
      DEV_MODEL_TOKEN_DELAY_MS: z.coerce.number().int().min(0).default(15),
      LLM_DAILY_TOKEN_LIMIT: positiveInt(200_000),
      MAX_CONCURRENT_REPLIES_PER_USER: positiveInt(3),
      LLM_FALLBACK_MODELS: optionalString,
      LLM_FALLBACK_API_KEY: optionalString,
      LLM_TOTAL_DEADLINE_MS: positiveInt(120_000),
      LLM_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
      LLM_BREAKER_FAILURES: positiveInt(5),
      LLM_BREAKER_COOLDOWN_MS: positiveInt(30_000),
      LLM_HISTORY_TOKEN_BUDGET: positiveInt(8000),
    })
    .transform((variables, ctx) => {
      const warnings: string[] = [];
      if (!variables.OPENAI_API_KEY) {
        if (env === "production") {
          refuse(
            ctx,
            "OPENAI_API_KEY",
            "required in production; without it the offline dev model would answer your users with canned text (for " +
              "a local server without keys, e.g. Ollama, set any value: OPENAI_API_KEY=ollama)",
          );
        } else if (env === "staging")
          warnings.push("OPENAI_API_KEY is not set: replies come from the offline dev model");
      }
      const fallbacks = parseFallbacks(
        variables.LLM_FALLBACK_MODELS,
        variables.LLM_FALLBACK_API_KEY ?? variables.OPENAI_API_KEY,
      );
      for (const { entry, baseUrl } of fallbacks) {
        if (baseUrl !== undefined && !URL.canParse(baseUrl))
          refuse(ctx, "LLM_FALLBACK_MODELS", `"${entry}" has no valid URL after @`);
      }
      return {
        llm: {
          apiKey: variables.OPENAI_API_KEY,
          baseUrl: variables.OPENAI_BASE_URL,
          model: variables.LLM_MODEL,
          maxOutputTokens: variables.LLM_MAX_OUTPUT_TOKENS,
          timeoutMs: variables.LLM_TIMEOUT_MS,
          devModelTokenDelayMs: variables.DEV_MODEL_TOKEN_DELAY_MS,
          /** Model tokens (input + output) one user may spend per UTC day. */
          dailyTokenLimit: variables.LLM_DAILY_TOKEN_LIMIT,
          /** Replies one user may have running or queued at once (REPLY_LIMIT_EXCEEDED beyond). */
          maxConcurrentRepliesPerUser: variables.MAX_CONCURRENT_REPLIES_PER_USER,
          /** Tried in order after the primary model fails (each entry its own circuit breaker). */
          fallbacks: fallbacks.map(({ model, baseUrl, apiKey }) => ({ model, baseUrl, apiKey })),
          /** All attempts of one model call together, retries and fallbacks included. */
          totalDeadlineMs: variables.LLM_TOTAL_DEADLINE_MS,
          /** Retries per model on retryable failures (429, 5xx, timeouts, broken streams). */
          maxRetries: variables.LLM_MAX_RETRIES,
          breaker: { failureThreshold: variables.LLM_BREAKER_FAILURES, cooldownMs: variables.LLM_BREAKER_COOLDOWN_MS },
          /** Conversation history sent to the model is trimmed to this many tokens (separate from the output limit). */
          historyTokenBudget: variables.LLM_HISTORY_TOKEN_BUDGET,
        },
        warnings,
      };
    });

/** `model` (same server as the primary) or `model@https://server/v1`, comma-separated, in fallback order. */
function parseFallbacks(value: string | undefined, apiKey: string | undefined) {
  return (value ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.indexOf("@");
      return {
        entry,
        model: at < 0 ? entry : entry.slice(0, at),
        baseUrl: at < 0 ? undefined : entry.slice(at + 1),
        apiKey,
      };
    });
}
