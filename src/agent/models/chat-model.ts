import { ChatOpenAI } from "@langchain/openai";
import { DEV_MODEL_NAME, DevChatModel } from "./dev-chat-model.ts";
import type { ResiliencePolicy } from "./policies.ts";
import type { ModelCandidate } from "./resilient-chat.ts";

export interface ModelEndpoint {
  model: string;
  /** Unset: the primary's server. */
  baseUrl: string | undefined;
  apiKey: string | undefined;
}

export interface ChatModelSettings {
  apiKey: string | undefined;
  baseUrl: string | undefined;
  model: string;
  maxOutputTokens: number;
  timeoutMs: number;
  devModelTokenDelayMs: number;
  /** Tried in order after the primary (see ResilientChatModel). */
  fallbacks: ModelEndpoint[];
  totalDeadlineMs: number;
  maxRetries: number;
  breaker: { failureThreshold: number; cooldownMs: number };
}

/**
 * The fallback chain, primary first, named by model name (recorded on every reply, so nobody mistakes a
 * dev-model answer for a real one): any OpenAI-compatible endpoints when a key is configured, the offline dev
 * model otherwise.
 */
export function createChatModel(settings: ChatModelSettings): ModelCandidate[] {
  if (!settings.apiKey) {
    return [{ name: DEV_MODEL_NAME, model: new DevChatModel({ tokenDelayMs: settings.devModelTokenDelayMs }) }];
  }
  const primary = { model: settings.model, baseUrl: settings.baseUrl, apiKey: settings.apiKey };
  return [primary, ...settings.fallbacks].map((endpoint) => ({
    name: endpoint.model,
    model: createOpenAIChatModel(
      { ...endpoint, baseUrl: endpoint.baseUrl ?? settings.baseUrl },
      settings.maxOutputTokens,
    ),
    expectFinishReason: true,
  }));
}

/** `LLM_TIMEOUT_MS` bounds the wait for each chunk of an attempt; see ResiliencePolicy. */
export function resiliencePolicy(settings: ChatModelSettings): ResiliencePolicy {
  return {
    attemptTimeoutMs: settings.timeoutMs,
    totalDeadlineMs: settings.totalDeadlineMs,
    maxRetries: settings.maxRetries,
    breaker: settings.breaker,
  };
}

function createOpenAIChatModel({ model, baseUrl, apiKey }: ModelEndpoint, maxOutputTokens: number): ChatOpenAI {
  return new ChatOpenAI({
    model,
    apiKey,
    maxTokens: maxOutputTokens,
    // The resilience policies own retries and timeouts; retries inside the SDK would multiply them unseen.
    maxRetries: 0,
    // Usage arrives in the stream's last chunk; quotas are charged from it.
    streamUsage: true,
    // `streaming` stays unset: with it, invoke() counts tokens through a tiktoken download (stack notes Q7).
    configuration: baseUrl ? { baseURL: baseUrl } : undefined,
  });
}
