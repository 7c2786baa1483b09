// What one model call looks like to the graph and to memory extraction: a stream of events, and what it cost.
import type { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { AIMessage, AIMessageChunk, BaseMessage } from "@langchain/core/messages";
import type { StructuredToolInterface } from "@langchain/core/tools";

export type ModelCallEvent =
  /** Before every attempt except the very first; consumers discard partial text of the previous attempt. */
  | { type: "attempt"; model: string; attempt: number; reason: string }
  /** Text and tool-call chunks as they stream. */
  | { type: "chunk"; chunk: AIMessageChunk }
  /** The whole message (tool_calls, usage_metadata) of the successful attempt. */
  | { type: "done"; message: AIMessage; model: string };

/** Tokens one request to a provider used: what the provider reported, else an estimate (`estimated`). */
export interface ModelUsage {
  model: string;
  inputTokens: number;
  outputTokens: number;
  estimated: boolean;
}

export interface ModelCallOptions {
  tools?: StructuredToolInterface[];
  signal: AbortSignal;
  /**
   * Hears of every request the provider answered, as soon as it ends, whether it succeeded, failed mid-stream or
   * was cancelled: each was paid for. Runs synchronously; it must not throw.
   */
  onUsage?: (usage: ModelUsage) => void;
  /** Tracing handlers for a call made outside a graph run (inside one, the run's own are inherited). */
  callbacks?: BaseCallbackHandler[];
}

/** A model call that streams, retries and falls back on its own (see resilient-chat.ts). */
export interface ChatStream {
  stream(messages: BaseMessage[], options: ModelCallOptions): AsyncIterable<ModelCallEvent>;
}
