// The agent graph: model ⇄ tools, bounded. It is handed its model and tools; it creates neither.
import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage } from "@langchain/core/messages";
import type { StructuredToolInterface } from "@langchain/core/tools";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { ToolNode } from "@langchain/langgraph/prebuilt";

export interface AgentGraphDependencies {
  model: BaseChatModel;
  tools?: StructuredToolInterface[];
}

export const AGENT_NODE = "agent";
export const TOOLS_NODE = "tools";

/** After the model speaks: run the tools it asked for, or finish. */
export function routeAfterAgent(state: typeof MessagesAnnotation.State): typeof TOOLS_NODE | typeof END {
  const last = state.messages.at(-1);
  return last instanceof AIMessage && (last.tool_calls?.length ?? 0) > 0 ? TOOLS_NODE : END;
}

export function buildAgentGraph({ model, tools = [] }: AgentGraphDependencies) {
  const modelWithTools = tools.length > 0 && model.bindTools ? model.bindTools(tools) : model;

  const callModel = async (state: typeof MessagesAnnotation.State) => ({
    messages: [await modelWithTools.invoke(state.messages)],
  });

  const graph = new StateGraph(MessagesAnnotation).addNode(AGENT_NODE, callModel).addEdge(START, AGENT_NODE);
  if (tools.length === 0) return graph.addEdge(AGENT_NODE, END).compile();
  return graph
    .addNode(TOOLS_NODE, new ToolNode(tools))
    .addConditionalEdges(AGENT_NODE, routeAfterAgent, [TOOLS_NODE, END])
    .addEdge(TOOLS_NODE, AGENT_NODE)
    .compile();
}

export type AgentGraph = ReturnType<typeof buildAgentGraph>;
