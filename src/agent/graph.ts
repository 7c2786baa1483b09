// The agent graph: sync the conversation → recall memories → agent (model with tools bound) ⇄ tools → done. It is handed its model,
// tools, memory and checkpointer; it creates none of them.
import { AIMessage } from "@langchain/core/messages";
import type { StructuredToolInterface } from "@langchain/core/tools";
import { type BaseCheckpointSaver, END, START, StateGraph } from "@langchain/langgraph";
import type { Logger } from "../observability/logger.ts";
import type { ChatStream } from "./models/model-call.ts";
import { callModel } from "./nodes/call-model.ts";
import type { MemoryRecall } from "./memory/recall.ts";
import { recallMemories } from "./nodes/recall-memories.ts";
import { runTools } from "./nodes/run-tools.ts";
import { syncConversation } from "./nodes/sync-conversation.ts";
import { AgentContext, AgentState, type AgentStateType } from "./state.ts";

export interface AgentGraphDependencies {
  chat: ChatStream;
  tools?: StructuredToolInterface[];
  memory?: MemoryRecall;
  checkpointer?: BaseCheckpointSaver;
  agentName: string;
  historyTokenBudget: number;
  toolTimeoutMs: number;
  /** Hears what clients are told only in general terms: tool failures, why a reply restarted. */
  logger?: Pick<Logger, "warn">;
}

const SYNC_NODE = "syncConversation";
const RECALL_NODE = "recallMemories";
export const AGENT_NODE = "agent";
export const TOOLS_NODE = "tools";

/** After the model speaks: run the tools it asked for, or finish. */
export function routeAfterAgent(state: AgentStateType): typeof TOOLS_NODE | typeof END {
  const last = state.messages.at(-1);
  return last instanceof AIMessage && (last.tool_calls?.length ?? 0) > 0 ? TOOLS_NODE : END;
}

export function buildAgentGraph({ chat, tools = [], memory, checkpointer, ...options }: AgentGraphDependencies) {
  return new StateGraph(AgentState, AgentContext)
    .addNode(SYNC_NODE, syncConversation)
    .addNode(RECALL_NODE, memory ? recallMemories(memory) : async () => ({ memories: [] }))
    .addNode(
      AGENT_NODE,
      callModel({
        chat,
        tools,
        agentName: options.agentName,
        historyTokenBudget: options.historyTokenBudget,
        logger: options.logger,
      }),
    )
    .addNode(TOOLS_NODE, runTools(tools, { timeoutMs: options.toolTimeoutMs, logger: options.logger }))
    .addEdge(START, SYNC_NODE)
    .addEdge(SYNC_NODE, RECALL_NODE)
    .addEdge(RECALL_NODE, AGENT_NODE)
    .addConditionalEdges(AGENT_NODE, routeAfterAgent, [TOOLS_NODE, END])
    .addEdge(TOOLS_NODE, AGENT_NODE)
    .compile({ checkpointer });
}

export type AgentGraph = ReturnType<typeof buildAgentGraph>;
