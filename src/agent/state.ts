import { Annotation, MessagesAnnotation } from "@langchain/langgraph";
import { UntrackedValueChannel } from "@langchain/langgraph/channels";
import type { ConversationTurn } from "./conversation-sync.ts";
import type { ModelUsage } from "./models/model-call.ts";

export const AgentState = Annotation.Root({
  ...MessagesAnnotation.spec,
  /**
   * The run's input: the stored conversation (the record) ending with the message to answer. The first node
   * reconciles the checkpointed messages with it; never checkpointed itself.
   */
  turns: new UntrackedValueChannel<ConversationTurn[]>(),
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

/** Meters a run's model calls for whoever pays for them (the reply's user). */
export interface ModelMeter {
  /** Before each model call; throws (ending the run) when no more may be spent. */
  beforeModelCall(): Promise<void>;
  /** Each request a provider answered, as it ends (see ModelCallOptions.onUsage). Synchronous; never throws. */
  record(usage: ModelUsage): void;
}

/** Per-run dependencies (LangGraph's runtime context): handed to every node, never checkpointed. */
export const AgentContext = Annotation.Root({
  meter: Annotation<ModelMeter | undefined>(),
});

export type AgentContextType = typeof AgentContext.State;
