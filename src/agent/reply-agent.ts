// What the services layer sees of the agent: plain turns in, text deltas out.
import { AIMessage, AIMessageChunk, type BaseMessage, HumanMessage, SystemMessage } from "@langchain/core/messages";
import { AGENT_NODE, type AgentGraph } from "./graph.ts";

export interface ConversationTurn {
  role: "user" | "assistant" | "system";
  content: string;
}

export interface ReplyRequest {
  history: ConversationTurn[];
  signal: AbortSignal;
}

export interface ReplyAgent {
  /** The model that answers (shown on stored replies). */
  readonly modelName: string;
  /** Streams the reply's text as it is generated; throws on failure or abort. */
  streamReply(request: ReplyRequest): AsyncIterable<string>;
}

/** Bounds model ⇄ tools loops: a runaway tool loop ends in an error, not a bill. */
const RECURSION_LIMIT = 12;

export class LangGraphReplyAgent implements ReplyAgent {
  constructor(
    private readonly graph: AgentGraph,
    readonly modelName: string,
  ) {}

  async *streamReply({ history, signal }: ReplyRequest): AsyncGenerator<string> {
    const stream = await this.graph.stream(
      { messages: history.map(toLangChainMessage) },
      { streamMode: "messages", signal, recursionLimit: RECURSION_LIMIT },
    );
    for await (const [chunk, metadata] of stream) {
      if (metadata.langgraph_node !== AGENT_NODE || !(chunk instanceof AIMessageChunk)) continue;
      const text = chunk.text;
      if (text) yield text;
    }
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
