import { isStorableMemory } from "../memory/extraction.ts";
import type { MemoryRecall } from "../memory/recall.ts";
import type { AgentStateType } from "../state.ts";

/**
 * Before answering: what the agent remembers about this user that bears on their latest message. Facts that the
 * extraction filter would refuse today (stored before it existed) are left out, so they never reach the model.
 */
export function recallMemories(memory: MemoryRecall) {
  return async (state: AgentStateType) => {
    const lastUserMessage = state.messages.findLast((message) => message.getType() === "human");
    if (!lastUserMessage || !state.userId) return { memories: [] };
    return { memories: (await memory.recall(state.userId, lastUserMessage.text)).filter(isStorableMemory) };
  };
}
