// What the services layer sees of the agent: plain turns in, text deltas and token usage out.
import { AIMessage, AIMessageChunk, type BaseMessage, HumanMessage, SystemMessage } from "@langchain/core/messages";
import { AGENT_NODE, type AgentGraph } from "./graph.ts";
import { estimateTokens } from "./token-estimate.ts";

export interface ConversationTurn {
  role: "user" | "assistant" | "system";
  content: string;
}

export interface ReplyRequest {
  history: ConversationTurn[];
  signal: AbortSignal;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export type ReplyChunk = { type: "text"; text: string } | ({ type: "usage" } & TokenUsage);

export interface ReplyAgent {
  /** The model that answers (shown on stored replies). */
  readonly modelName: string;
  /**
   * Streams the reply's text as it is generated, then one `usage` chunk (summed over every model call of the
   * run; estimated when the provider reports none). Throws on failure or abort.
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

  async *streamReply({ history, signal }: ReplyRequest): AsyncGenerator<ReplyChunk> {
    const stream = await this.graph.stream(
      { messages: history.map(toLangChainMessage) },
      { streamMode: ["messages", "updates"], signal, recursionLimit: RECURSION_LIMIT },
    );
    let reported: TokenUsage | undefined;
    let output = "";
    for await (const [mode, payload] of stream) {
      if (mode === "updates") {
        // The agent node's finished message carries the provider's usage for that call.
        for (const message of (payload as Record<string, { messages?: BaseMessage[] }>)[AGENT_NODE]?.messages ?? []) {
          const usage = message instanceof AIMessage ? message.usage_metadata : undefined;
          if (!usage) continue;
          reported = {
            inputTokens: (reported?.inputTokens ?? 0) + usage.input_tokens,
            outputTokens: (reported?.outputTokens ?? 0) + usage.output_tokens,
          };
        }
        continue;
      }
      const [chunk, metadata] = payload;
      if (metadata.langgraph_node !== AGENT_NODE || !(chunk instanceof AIMessageChunk)) continue;
      const text = chunk.text;
      if (!text) continue;
      output += text;
      yield { type: "text", text };
    }
    yield {
      type: "usage",
      ...(reported ?? {
        inputTokens: estimateTokens(history.map((turn) => turn.content).join("\n")),
        outputTokens: estimateTokens(output),
      }),
    };
  }
}

function toLangChainMessage(turn: ConversationTurn): BaseMessage {
  switch (turn.role) {
    case "user":
      return new HumanMessage(turn.content);
    case "assistant":
      return new AIMessage(turn.content);
    case "system":
      return new SystemMessage(turn.content);
  }
}
