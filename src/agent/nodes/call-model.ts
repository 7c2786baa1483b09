import type { BaseMessage } from "@langchain/core/messages";
import { type AIMessage, HumanMessage, SystemMessage, trimMessages } from "@langchain/core/messages";
import type { StructuredToolInterface } from "@langchain/core/tools";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { ChatStream } from "../models/model-call.ts";
import type { Logger } from "../../observability/logger.ts";
import { renderMemoryNote, renderSystemPrompt } from "../prompts/system-prompt.ts";
import type { AgentContextType, AgentStateType, AgentStreamEvent } from "../state.ts";
import { estimateTokens } from "../token-estimate.ts";

export interface CallModelOptions {
  chat: ChatStream;
  tools: StructuredToolInterface[];
  agentName: string;
  /** History sent to the model is trimmed to this budget; the output limit is the model's own setting. */
  historyTokenBudget: number;
  now?: () => Date;
  /** Hears why a reply started over (the client is told only that it did). */
  logger?: Pick<Logger, "warn">;
}

/** What MessageRestarted says: the provider's error (addresses, hosts) stays in the log. */
export const RESTART_REASON = "The connection to the model failed; the reply starts over.";

export function callModel({
  chat,
  tools,
  agentName,
  historyTokenBudget,
  now = () => new Date(),
  logger,
}: CallModelOptions) {
  return async (state: AgentStateType, config: LangGraphRunnableConfig<AgentContextType>) => {
    const emit = (event: AgentStreamEvent) => config.writer?.(event);
    // Recalled memories are data, not instructions: never in the system message (see withMemoryNote).
    const history = withMemoryNote(await trimHistory(state.messages, historyTokenBudget), state.memories);
    const system = new SystemMessage(renderSystemPrompt({ agentName, now: now() }));
    let final: AIMessage | undefined;
    let streamedText = false;
    const meter = config.context?.meter;
    // Every call is metered as it ends; one the caller can no longer pay for is never made.
    await meter?.beforeModelCall();
    const signal = config.signal ?? new AbortController().signal;
    for await (const event of chat.stream([system, ...history], {
      tools,
      signal,
      onUsage: (usage) => meter?.record(usage),
    })) {
      if (event.type === "chunk") {
        const text = event.chunk.text;
        if (text) {
          streamedText = true;
          emit({ type: "text", text });
        }
      } else if (event.type === "attempt") {
        // What the consumer already showed of the failed attempt is void; it starts over with this one.
        if (streamedText) {
          logger?.warn(
            { model: event.model, attempt: event.attempt, reason: event.reason },
            "model stream broke: reply restarted",
          );
          emit({ type: "restart", model: event.model, reason: RESTART_REASON });
        }
        streamedText = false;
      } else {
        final = event.message;
        final.response_metadata = { ...final.response_metadata, model_name: event.model };
      }
    }
    if (!final) throw new Error("The model stream ended without a message");
    return { messages: [final] };
  };
}

/**
 * `history` with the recalled memories as a delimited user-role note just before the latest user message (where
 * they bear on it, and in the user's trust level: they come from the user's own words). Built for each model call
 * and never returned from the node, so it is in neither the checkpoint nor the stored messages.
 */
function withMemoryNote(history: BaseMessage[], memories: string[]): BaseMessage[] {
  const note = renderMemoryNote(memories);
  if (!note) return history;
  const lastUser = history.findLastIndex((message) => message.getType() === "human");
  const at = lastUser >= 0 ? lastUser : history.length;
  return [...history.slice(0, at), new HumanMessage(note), ...history.slice(at)];
}

/**
 * The most recent turns that fit the budget, starting at a user turn so a tool result never loses the call
 * that asked for it. The newest user message is always kept, even alone over budget.
 */
export async function trimHistory(messages: BaseMessage[], maxTokens: number): Promise<BaseMessage[]> {
  const trimmed = await trimMessages(messages, {
    maxTokens,
    strategy: "last",
    startOn: "human",
    includeSystem: false,
    tokenCounter: (batch) => batch.reduce((sum, message) => sum + estimateTokens(message.text) + 4, 0),
  });
  if (trimmed.length > 0) return trimmed;
  const lastHuman = messages.findLastIndex((message) => message.getType() === "human");
  return lastHuman >= 0 ? messages.slice(lastHuman) : messages.slice(-1);
}
