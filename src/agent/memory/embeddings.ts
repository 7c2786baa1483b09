import type { EmbeddingsInterface } from "@langchain/core/embeddings";
import { OpenAIEmbeddings } from "@langchain/openai";

export interface EmbeddingsSettings {
  /** EMBEDDINGS_MODEL; unset means no embeddings (memories are recalled by full-text search). */
  model: string | undefined;
  /** The chat model's OpenAI-compatible server and key: one provider account for both. */
  apiKey: string | undefined;
  baseUrl: string | undefined;
  timeoutMs: number;
}

export interface ConfiguredEmbeddings {
  client: EmbeddingsInterface;
  /** Stored with every vector: vectors of different models are never compared. */
  model: string;
}

/** Embeddings from the `/embeddings` endpoint of the configured server; undefined when not configured. */
export function createEmbeddings(settings: EmbeddingsSettings): ConfiguredEmbeddings | undefined {
  if (!settings.model || !settings.apiKey) return undefined;
  const client = new OpenAIEmbeddings({
    model: settings.model,
    apiKey: settings.apiKey,
    timeout: settings.timeoutMs,
    maxRetries: 1,
    configuration: settings.baseUrl ? { baseURL: settings.baseUrl } : undefined,
  });
  return { client, model: settings.model };
}
