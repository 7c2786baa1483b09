// The conditional edge after the agent node: a model answer that asks for tools goes to the tools node, any other
// answer ends the run. Checked on routeAfterAgent itself and on the compiled graph, driven by LangChain's fake chat
// models (@langchain/core/utils/testing) behind the app's own ResilientChatModel: no network, no database.
import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, AIMessageChunk, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { FakeListChatModel, FakeStreamingChatModel } from "@langchain/core/utils/testing";
import { END } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { buildAgentGraph, routeAfterAgent, TOOLS_NODE } from "./graph.ts";
import type { ChatStream } from "./models/model-call.ts";
import { ResilientChatModel } from "./models/resilient-chat.ts";
import type { AgentStateType } from "./state.ts";

const state = (...messages: AgentStateType["messages"]) =>
  ({ messages, memories: [], userId: "u" }) as unknown as AgentStateType;
const toolCall = { id: "c1", name: "current_time", args: {}, type: "tool_call" as const };

describe("routeAfterAgent", () => {
  it("sends an answer with tool calls to the tools node", () => {
    expect(
      routeAfterAgent(state(new HumanMessage("Time?"), new AIMessage({ content: "", tool_calls: [toolCall] }))),
    ).toBe(TOOLS_NODE);
    // Text alongside the calls does not make it a final answer.
    const both = new AIMessage({ content: "Let me check.", tool_calls: [toolCall, { ...toolCall, id: "c2" }] });
    expect(routeAfterAgent(state(new HumanMessage("Time?"), both))).toBe(TOOLS_NODE);
  });

  it("ends on an answer without tool calls (none, or an empty list)", () => {
    expect(routeAfterAgent(state(new HumanMessage("Hi"), new AIMessage("Hello!")))).toBe(END);
    expect(routeAfterAgent(state(new HumanMessage("Hi"), new AIMessage({ content: "Hello!", tool_calls: [] })))).toBe(
      END,
    );
  });

  it("looks only at the last message: an earlier tool round does not send the run back to the tools", () => {
    const earlier = [new HumanMessage("Time?"), new AIMessage({ content: "", tool_calls: [toolCall] })];
    const result = new ToolMessage({ content: "noon", tool_call_id: "c1", name: "current_time" });
    expect(routeAfterAgent(state(...earlier, result, new AIMessage("It is noon.")))).toBe(END);
    expect(routeAfterAgent(state(...earlier, result))).toBe(END);
    expect(routeAfterAgent(state())).toBe(END);
  });
});

/** A ChatStream that answers its n-th call with the n-th fake model (through ResilientChatModel, as the app does). */
function fakeModels(models: BaseChatModel[]) {
  const sent: string[][] = [];
  const chat: ChatStream = {
    stream(messages, options) {
      sent.push(messages.map((message) => message.getType()));
      const model = models[sent.length - 1];
      if (!model) throw new Error(`unexpected model call #${sent.length}`);
      const policy = {
        attemptTimeoutMs: 5_000,
        totalDeadlineMs: 10_000,
        maxRetries: 0,
        breaker: { failureThreshold: 100, cooldownMs: 60_000 },
      };
      return new ResilientChatModel([{ name: `fake-${sent.length}`, model }], policy).stream(messages, options);
    },
  };
  return { chat, sent };
}

const currentTime = tool(async () => "noon", { name: "current_time", description: "The time.", schema: z.object({}) });

function graph(chat: ChatStream) {
  return buildAgentGraph({
    chat,
    tools: [currentTime],
    agentName: "Ada",
    historyTokenBudget: 10_000,
    toolTimeoutMs: 5_000,
  });
}

describe("the agent graph's edge after the model", () => {
  it("runs the requested tool and goes back to the model, then ends on its text answer", async () => {
    const asks = new FakeStreamingChatModel({ chunks: [new AIMessageChunk({ content: "", tool_calls: [toolCall] })] });
    const answers = new FakeListChatModel({ responses: ["It is noon."] });
    const { chat, sent } = fakeModels([asks, answers]);
    const result = await graph(chat).invoke({ turns: [{ role: "user", content: "Time?" }], userId: "u" });
    expect(result.messages.map((message) => message.getType())).toEqual(["human", "ai", "tool", "ai"]);
    expect(result.messages[2]!.text).toContain("noon");
    expect(result.messages.at(-1)!.text).toBe("It is noon.");
    // The second call saw the tool round; there was no third.
    expect(sent).toEqual([
      ["system", "human"],
      ["system", "human", "ai", "tool"],
    ]);
  });

  it("ends after one model call when the answer asks for no tool", async () => {
    const { chat, sent } = fakeModels([new FakeListChatModel({ responses: ["Hello!"] })]);
    const result = await graph(chat).invoke({ turns: [{ role: "user", content: "Hi" }], userId: "u" });
    expect(result.messages.map((message) => message.getType())).toEqual(["human", "ai"]);
    expect(result.messages.at(-1)!.text).toBe("Hello!");
    expect(sent).toHaveLength(1);
  });
});
