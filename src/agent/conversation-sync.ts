// The stored messages are the conversation of record; the checkpoint is the agent's working copy of it (with
// the tool calls and results the rows summarise). Before each run the two are compared, and the checkpoint is
// rebuilt from the rows whenever they disagree, so they never drift apart.
import { AIMessage, type BaseMessage, HumanMessage, RemoveMessage, SystemMessage } from "@langchain/core/messages";
import { REMOVE_ALL_MESSAGES } from "@langchain/langgraph";

export interface ConversationTurn {
  role: "user" | "assistant" | "system";
  content: string;
}

/**
 * The messages to hand the graph for this run. `history` ends with the user message being answered;
 * `checkpointed` is the thread's saved state (empty for a new thread).
 */
export function runInput(history: ConversationTurn[], checkpointed: BaseMessage[]): BaseMessage[] {
  const current = history.at(-1);
  const before = history.slice(0, -1);
  const inSync =
    !endsWithUnansweredToolCall(checkpointed) && sameTurns(turnsOf(checkpointed), before) && current !== undefined;
  if (inSync) return [toMessage(current)];
  return [new RemoveMessage({ id: REMOVE_ALL_MESSAGES }), ...history.map(toMessage)];
}

/** The user turns and final answers of a checkpointed thread, as the rows would list them. */
function turnsOf(messages: BaseMessage[]): ConversationTurn[] {
  const turns: ConversationTurn[] = [];
  for (const message of messages) {
    if (message.getType() === "human") turns.push({ role: "user", content: message.text });
    else if (message instanceof AIMessage && (message.tool_calls?.length ?? 0) === 0 && message.text !== "") {
      turns.push({ role: "assistant", content: message.text });
    }
  }
  return turns;
}

function sameTurns(a: ConversationTurn[], b: ConversationTurn[]): boolean {
  return a.length === b.length && a.every((turn, i) => turn.role === b[i]!.role && turn.content === b[i]!.content);
}

/** A run stopped between the model asking for tools and their results: providers refuse such a history. */
function endsWithUnansweredToolCall(messages: BaseMessage[]): boolean {
  const last = messages.at(-1);
  return last instanceof AIMessage && (last.tool_calls?.length ?? 0) > 0;
}

function toMessage(turn: ConversationTurn): BaseMessage {
  switch (turn.role) {
    case "user":
      return new HumanMessage(turn.content);
    case "assistant":
      return new AIMessage(turn.content);
    case "system":
      return new SystemMessage(turn.content);
  }
}
