/**
 * A tokenizer-free estimate (about four characters per token for English with BPE tokenizers), used only when
 * a provider reports no usage. A real tokenizer would need a download at run time, which this app never does.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
