// What the graph needs from long-term memory, and how the offline dev model finds recalled facts in its prompt.

/** Facts about the user relevant to `query` (best first, at most MEMORY_RECALL_LIMIT); [] when none are stored. */
export interface MemoryRecall {
  recall(userId: string, query: string): Promise<string[]>;
}

/**
 * The heading the system prompt puts above recalled facts ("What you remember about this user …:" followed by
 * "- fact" lines, as prompts/system-prompt.ts renders them). Matched loosely so rewording the rest of the
 * heading does not silently break the dev model's echo of its memories.
 */
const MEMORY_HEADING = /^what you remember about (?:this|the) user\b.*:\s*$/i;

/** The facts listed under the memory heading of a system prompt ([] when there is none, or it lists none). */
export function memoriesInPrompt(prompt: string): string[] {
  const lines = prompt.split("\n");
  const start = lines.findIndex((line) => MEMORY_HEADING.test(line.trim()));
  if (start < 0) return [];
  const facts: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const match = /^\s*- (.+)$/.exec(line);
    if (!match) break;
    facts.push(match[1]!.trim());
  }
  return facts;
}
