// What the graph needs from long-term memory. (How recalled facts reach the model: prompts/system-prompt.ts's
// memory note, which the offline dev model reads back with memoriesInNote.)

/** Facts about the user relevant to `query` (best first, at most MEMORY_RECALL_LIMIT); [] when none are stored. */
export interface MemoryRecall {
  recall(userId: string, query: string): Promise<string[]>;
}
