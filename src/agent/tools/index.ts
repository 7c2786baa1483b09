import type { StructuredToolInterface } from "@langchain/core/tools";
import { createCurrentTimeTool } from "./current-time.ts";
import { createWebSearchTool, type WebSearchSettings } from "./web-search.ts";

export interface ToolSettings {
  webSearch: { provider: WebSearchSettings["provider"] | "off"; url: string | undefined };
}

/** The agent's tool belt, from config. */
export function createTools({ webSearch }: ToolSettings): StructuredToolInterface[] {
  const tools: StructuredToolInterface[] = [createCurrentTimeTool()];
  if (webSearch.provider !== "off")
    tools.push(createWebSearchTool({ provider: webSearch.provider, url: webSearch.url }));
  return tools;
}
