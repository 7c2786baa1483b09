import { Annotation, MessagesAnnotation } from "@langchain/langgraph";

export const AgentState = Annotation.Root({
  ...MessagesAnnotation.spec,
  /** Whose conversation this is: memories are recalled for this user only. */
  userId: Annotation<string>(),
  /** What the agent remembers about the user that bears on this turn; replaced every turn. */
  memories: Annotation<string[]>({ reducer: (_previous, next) => next, default: () => [] }),
});

export type AgentStateType = typeof AgentState.State;

/** What nodes tell the reply's consumer while they run (LangGraph's `custom` stream mode). */
export type AgentStreamEvent =
  | { type: "text"; text: string }
  | { type: "restart"; model: string; reason: string }
  | { type: "toolStarted"; callId: string; name: string; arguments: Record<string, unknown> }
  | { type: "toolFinished"; callId: string; name: string; result: string; isError: boolean };
