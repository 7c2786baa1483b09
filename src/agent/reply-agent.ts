// What the services layer sees of the agent: plain turns in; text, tool activity and token usage out.
import { AIMessage, type BaseMessage } from "@langchain/core/messages";
import type { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import { type ConversationTurn, runInput, toMessage } from "./conversation-sync.ts";
import { AGENT_NODE, type AgentGraph } from "./graph.ts";
import type { AgentStreamEvent } from "./state.ts";
import { estimateTokens } from "./token-estimate.ts";

export type { ConversationTurn } from "./conversation-sync.ts";

export interface ReplyRequest {
  userId: string;
  sessionId: string;
  history: ConversationTurn[];
  signal: AbortSignal;
  /** Tracing handlers for this run (Langfuse), if any. */
  callbacks?: BaseCallbackHandler[];
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export type ReplyChunk = AgentStreamEvent | ({ type: "usage" } & TokenUsage) | { type: "model"; name: string };

export interface ReplyAgent {
  /** The model that answers when nothing fails (shown on replies until the run says otherwise). */
  readonly modelName: string;
  /**
   * Streams the reply as it is generated: text, restarts (discard the text so far), tool calls, then the model
   * that answered and one `usage` chunk (summed over every model call of the run; estimated when the provider
   * reports none). Throws on failure or abort.
   */
  streamReply(request: ReplyRequest): AsyncIterable<ReplyChunk>;
}

/** Bounds model ⇄ tools loops: a runaway tool loop ends in an error, not a bill. */
const RECURSION_LIMIT = 12;

export class LangGraphReplyAgent implements ReplyAgent {
  constructor(
    private readonly graph: AgentGraph,
    readonly modelName: string,
  ) {}

  async *streamReply({ userId, sessionId, history, signal, callbacks }: ReplyRequest): AsyncGenerator<ReplyChunk> {
    // One checkpointed thread per chat session: tool calls and results stay in the agent's history.
    const configurable = { thread_id: sessionId };
    const checkpointed = this.graph.checkpointer
      ? ((await this.graph.getState({ configurable })).values.messages ?? [])
      : [];
    const messages = this.graph.checkpointer ? runInput(history, checkpointed) : history.map(toMessage);
    const stream = await this.graph.stream(
      { messages, userId },
      { configurable, streamMode: ["custom", "updates"], signal, recursionLimit: RECURSION_LIMIT, callbacks },
    );
    let reported: TokenUsage | undefined;
    let answeredBy: string | undefined;
    let output = "";
    for await (const [mode, payload] of stream) {
      if (mode === "custom") {
        const event = payload as AgentStreamEvent;
        if (event.type === "text") output += event.text;
        if (event.type === "restart") output = "";
        yield event;
        continue;
      }
      // The agent node's finished message carries the provider's usage and the model that answered.
      for (const message of (payload as Record<string, { messages?: BaseMessage[] }>)[AGENT_NODE]?.messages ?? []) {
        if (!(message instanceof AIMessage)) continue;
        answeredBy = (message.response_metadata?.model_name as string | undefined) ?? answeredBy;
        const usage = message.usage_metadata;
        if (usage) {
          reported = {
            inputTokens: (reported?.inputTokens ?? 0) + usage.input_tokens,
            outputTokens: (reported?.outputTokens ?? 0) + usage.output_tokens,
          };
        }
      }
    }
    if (answeredBy) yield { type: "model", name: answeredBy };
    yield {
      type: "usage",
      ...(reported ?? {
        inputTokens: estimateTokens(history.map((turn) => turn.content).join("\n")),
        outputTokens: estimateTokens(output),
      }),
    };
  }
}
