import type { MemoryRecall } from "../memory/recall.ts";
import type { AgentStateType } from "../state.ts";

/** Before answering: what the agent remembers about this user that bears on their latest message. */
export function recallMemories(memory: MemoryRecall) {
  return async (state: AgentStateType) => {
    const lastUserMessage = state.messages.findLast((message) => message.getType() === "human");
    if (!lastUserMessage || !state.userId) return { memories: [] };
    return { memories: await memory.recall(state.userId, lastUserMessage.text) };
  };
}
