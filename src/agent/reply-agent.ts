// What the services layer sees of the agent: plain turns in; text, tool activity and the answering model out.
// What the run costs is reported per model call, as it happens, to the request's meter.
import { AIMessage, type BaseMessage } from "@langchain/core/messages";
import type { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { ConversationTurn } from "./conversation-sync.ts";
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

/** Bounds model ⇄ tools loops (sync, recall, then at most 6 model calls): a runaway loop ends in an error, not a bill. */
const RECURSION_LIMIT = 13;

export class LangGraphReplyAgent implements ReplyAgent {
  constructor(private readonly graph: AgentGraph) {}

  async *streamReply({
    userId,
    sessionId,
    history,
    signal,
    meter,
    callbacks,
  }: ReplyRequest): AsyncGenerator<ReplyChunk> {
    // One checkpointed thread per chat session: tool calls and results stay in the agent's history. The graph
    // reconciles it with `history` (the record) in its first node.
    const stream = await this.graph.stream(
      { turns: history, userId },
      {
        configurable: { thread_id: sessionId },
        context: { meter },
        streamMode: ["custom", "updates"],
        signal,
        recursionLimit: RECURSION_LIMIT,
        callbacks,
        // One checkpoint per run, written as it ends (completed, failed or cancelled): the stored messages are the
        // record a crashed run is rebuilt from, so per-step checkpoints would buy nothing but writes.
        durability: "exit",
      },
    );
    let answeredBy: string | undefined;
    for await (const [mode, payload] of stream) {
      if (mode === "custom") {
        yield payload as AgentStreamEvent;
        continue;
      }
      // The agent node's finished message names the model that answered (a fallback, maybe).
      for (const message of (payload as Record<string, { messages?: BaseMessage[] }>)[AGENT_NODE]?.messages ?? []) {
        if (message instanceof AIMessage)
          answeredBy = (message.response_metadata?.model_name as string | undefined) ?? answeredBy;
      }
    }
    if (answeredBy) yield { type: "model", name: answeredBy };
  }
}
