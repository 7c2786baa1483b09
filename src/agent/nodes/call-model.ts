import type { BaseMessage } from "@langchain/core/messages";
import { type AIMessage, type AIMessageChunk, SystemMessage, trimMessages } from "@langchain/core/messages";
import type { StructuredToolInterface } from "@langchain/core/tools";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { renderSystemPrompt } from "../prompts/system-prompt.ts";
import type { AgentStateType, AgentStreamEvent } from "../state.ts";
import { estimateTokens } from "../token-estimate.ts";

export type ModelCallEvent =
  | { type: "attempt"; model: string; attempt: number; reason: string }
  | { type: "chunk"; chunk: AIMessageChunk }
  | { type: "done"; message: AIMessage; model: string };

/** A model call that streams, retries and falls back on its own (see models/resilient-chat.ts). */
export interface ChatStream {
  stream(messages: BaseMessage[], options: { tools?: StructuredToolInterface[]; signal: AbortSignal }): AsyncIterable<ModelCallEvent>;
}

export interface CallModelOptions {
  chat: ChatStream;
  tools: StructuredToolInterface[];
  agentName: string;
  /** History sent to the model is trimmed to this budget; the output limit is the model's own setting. */
  historyTokenBudget: number;
  now?: () => Date;
}

export function callModel({ chat, tools, agentName, historyTokenBudget, now = () => new Date() }: CallModelOptions) {
  return async (state: AgentStateType, config: LangGraphRunnableConfig) => {
    const emit = (event: AgentStreamEvent) => config.writer?.(event);
    const history = await trimHistory(state.messages, historyTokenBudget);
    const system = new SystemMessage(renderSystemPrompt({ agentName, now: now(), memories: state.memories }));
    let final: AIMessage | undefined;
    let streamedText = false;
    for await (const event of chat.stream([system, ...history], { tools, signal: config.signal ?? new AbortController().signal })) {
      if (event.type === "chunk") {
        const text = event.chunk.text;
        if (text) {
          streamedText = true;
          emit({ type: "text", text });
        }
      } else if (event.type === "attempt") {
        // What the consumer already showed of the failed attempt is void; it starts over with this one.
        if (streamedText) emit({ type: "restart", model: event.model, reason: event.reason });
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
