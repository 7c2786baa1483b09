import { runInput } from "../conversation-sync.ts";
import type { AgentStateType } from "../state.ts";

/**
 * First, the stored conversation and the checkpointed one are made to agree (conversation-sync.ts): the new message
 * is appended when they do, the checkpoint rebuilt from the rows when they could differ. Done inside the run, so the
 * checkpoint LangGraph loads for it is read once.
 */
export function syncConversation(state: AgentStateType) {
  const turns = state.turns ?? [];
  return turns.length > 0 ? { messages: runInput(turns, state.messages) } : {};
}
