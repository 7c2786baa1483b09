import type { BaseMessage } from "@langchain/core/messages";

/**
 * A tokenizer-free estimate (about four characters per token for English with BPE tokenizers), used only when
 * a provider reports no usage. A real tokenizer would need a download at run time, which this app never does.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The estimated cost of one request: every message sent, and the text that came back. */
export function estimateUsage(messages: BaseMessage[], output: string): { inputTokens: number; outputTokens: number } {
  return {
    inputTokens: estimateTokens(messages.map((message) => message.text).join("\n")),
    outputTokens: estimateTokens(output),
  };
}
