import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { ChatOpenAI } from "@langchain/openai";
import { DEV_MODEL_NAME, DevChatModel } from "./dev-chat-model.ts";

export interface ChatModelSettings {
  apiKey: string | undefined;
  baseUrl: string | undefined;
  model: string;
  maxOutputTokens: number;
  timeoutMs: number;
  devModelTokenDelayMs: number;
}

export interface ChatModelChoice {
  model: BaseChatModel;
  /** Recorded on every reply, so nobody mistakes a dev-model answer for a real one. */
  name: string;
}

/** Any OpenAI-compatible endpoint when a key is configured; the offline dev model otherwise. */
export function createChatModel(settings: ChatModelSettings): ChatModelChoice {
  if (!settings.apiKey) {
    return { model: new DevChatModel({ tokenDelayMs: settings.devModelTokenDelayMs }), name: DEV_MODEL_NAME };
  }
  // `streaming` stays unset: with it, invoke() counts tokens through a tiktoken download (stack notes Q7).
  const model = new ChatOpenAI({
    model: settings.model,
    apiKey: settings.apiKey,
    maxTokens: settings.maxOutputTokens,
    timeout: settings.timeoutMs,
    maxRetries: 2,
    configuration: settings.baseUrl ? { baseURL: settings.baseUrl } : undefined,
  });
  return { model, name: settings.model };
}
