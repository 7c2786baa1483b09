// What the services layer sees of the agent: plain turns in; text, tool activity and the answering model out.
// What the run costs is reported per model call, as it happens, to the request's meter.
import { AIMessage, type BaseMessage } from "@langchain/core/messages";
import type { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import { type ConversationTurn, runInput, toMessage } from "./conversation-sync.ts";
import { AGENT_NODE, type AgentGraph } from "./graph.ts";
import type { AgentStreamEvent, ModelMeter } from "./state.ts";

export type { ConversationTurn } from "./conversation-sync.ts";
export type { ModelMeter } from "./state.ts";
export type { ModelUsage } from "./models/model-call.ts";

export interface ReplyRequest {
  userId: string;
  sessionId: string;
  history: ConversationTurn[];
  signal: AbortSignal;
  /** Hears every model call's usage as it ends, and may refuse the next call. */
  meter?: ModelMeter;
  /** Tracing handlers for this run (Langfuse), if any. */
  callbacks?: BaseCallbackHandler[];
}

export type ReplyChunk = AgentStreamEvent | { type: "model"; name: string };

export interface ReplyAgent {
  /**
   * Streams the reply as it is generated: text, restarts (discard the text so far), tool calls, then the model
   * that answered. Throws on failure or abort.
   */
  streamReply(request: ReplyRequest): AsyncIterable<ReplyChunk>;
}

/** Bounds model ⇄ tools loops: a runaway tool loop ends in an error, not a bill. */
const RECURSION_LIMIT = 12;

export class LangGraphReplyAgent implements ReplyAgent {
  constructor(private readonly graph: AgentGraph) {}

  async *streamReply({ userId, sessionId, history, signal, meter, callbacks }: ReplyRequest): AsyncGenerator<ReplyChunk> {
    // One checkpointed thread per chat session: tool calls and results stay in the agent's history.
    const configurable = { thread_id: sessionId };
    const checkpointed = this.graph.checkpointer
      ? ((await this.graph.getState({ configurable })).values.messages ?? [])
      : [];
    const messages = this.graph.checkpointer ? runInput(history, checkpointed) : history.map(toMessage);
    const stream = await this.graph.stream(
      { messages, userId },
      { configurable, context: { meter }, streamMode: ["custom", "updates"], signal, recursionLimit: RECURSION_LIMIT, callbacks },
    );
    let answeredBy: string | undefined;
    for await (const [mode, payload] of stream) {
      if (mode === "custom") {
        yield payload as AgentStreamEvent;
        continue;
      }
      // The agent node's finished message names the model that answered (a fallback, maybe).
      for (const message of (payload as Record<string, { messages?: BaseMessage[] }>)[AGENT_NODE]?.messages ?? []) {
        if (message instanceof AIMessage) answeredBy = (message.response_metadata?.model_name as string | undefined) ?? answeredBy;
      }
    }
    if (answeredBy) yield { type: "model", name: answeredBy };
  }
}
