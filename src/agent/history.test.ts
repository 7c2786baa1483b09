// The prompt history under LLM_HISTORY_TOKEN_BUDGET (trimHistory, used by the agent node): the newest turns are
// kept, a tool call is never sent without its result or a result without its call, and the system prompt, built
// apart from the history, is always sent first. Tokens are estimated (token-estimate.ts): ceil(chars / 4) per
// message, plus 4 per message in trimHistory's counter.
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { FakeListChatModel } from "@langchain/core/utils/testing";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import type { ChatStream } from "./models/model-call.ts";
import { ResilientChatModel } from "./models/resilient-chat.ts";
import { callModel, trimHistory } from "./nodes/call-model.ts";
import { renderSystemPrompt } from "./prompts/system-prompt.ts";
import type { AgentContextType, AgentStateType } from "./state.ts";
import { estimateTokens } from "./token-estimate.ts";

const text = (tokens: number, letter: string) => letter.repeat(tokens * 4); // exactly `tokens` estimated tokens
const call = (id: string) =>
  new AIMessage({ content: "", tool_calls: [{ id, name: "current_time", args: {}, type: "tool_call" }] });
const result = (id: string, content: string) => new ToolMessage({ content, tool_call_id: id, name: "current_time" });
const shape = (messages: BaseMessage[]) =>
  messages.map((message) => `${message.getType()}:${message.text.slice(0, 12)}`);

/** Every tool result has its call before it, and every call its results after it. */
function toolRoundsWhole(messages: BaseMessage[]): boolean {
  const called = new Set<string>();
  const answered = new Set<string>();
  for (const message of messages) {
    if (message instanceof AIMessage) for (const toolCall of message.tool_calls ?? []) called.add(toolCall.id!);
    if (message instanceof ToolMessage) {
      if (!called.has(message.tool_call_id)) return false;
      answered.add(message.tool_call_id);
    }
  }
  return [...called].every((id) => answered.has(id));
}

/** Three turns, the middle one a tool round: 14 + 14 + 7 + 4 + 14 + 14 + 14 + 14 = 95 estimated tokens. */
const conversation: BaseMessage[] = [
  new HumanMessage(text(10, "a")), // 14
  new AIMessage(text(10, "b")), // 14
  new HumanMessage("What time?"), // ceil(10 / 4) + 4 = 7
  call("c1"), // 0 + 4
  result("c1", text(10, "n")), // 14
  new AIMessage(text(10, "c")), // 14
  new HumanMessage(text(10, "d")), // 14
  new AIMessage(text(10, "e")), // 14
];
const costOf = (messages: BaseMessage[]) =>
  messages.reduce((sum, message) => sum + estimateTokens(message.text) + 4, 0);

describe("estimateTokens", () => {
  it("is about four characters per token, rounded up", () => {
    expect(estimateTokens("")).toBe(0);
    expect(estimateTokens("abcd")).toBe(1);
    expect(estimateTokens("abcde")).toBe(2);
  });
});

describe("trimHistory", () => {
  it("keeps the whole history when it fits, exactly at the budget too", async () => {
    const total = costOf(conversation);
    expect(await trimHistory(conversation, total)).toEqual(conversation);
    expect(await trimHistory(conversation, total + 1000)).toEqual(conversation);
  });

  it("drops the oldest turns first and starts on a user message", async () => {
    const lastTurn = conversation.slice(6); // the newest user message and its answer: 28 tokens
    expect(await trimHistory(conversation, costOf(lastTurn))).toEqual(lastTurn);
    // One token short of the whole history: the oldest turn goes, not a later one, and not half of it.
    const trimmed = await trimHistory(conversation, costOf(conversation) - 1);
    expect(shape(trimmed)).toEqual(shape(conversation.slice(2)));
  });

  it("never keeps a tool result without its call, whatever the budget", async () => {
    // Budgets that cut inside the tool round: the call and the user message before it do not fit, the result does.
    const fromResult = costOf(conversation.slice(4));
    for (const budget of [fromResult, fromResult + 4, fromResult + 5]) {
      const trimmed = await trimHistory(conversation, budget);
      expect(toolRoundsWhole(trimmed), `budget ${budget}: ${shape(trimmed).join(", ")}`).toBe(true);
      expect(trimmed[0]!.getType()).toBe("human");
      expect(shape(trimmed)).toEqual(shape(conversation.slice(6)));
    }
    // And for every budget: a suffix of the history, starting on a user message, tool rounds whole.
    for (let budget = 0; budget <= costOf(conversation) + 1; budget++) {
      const trimmed = await trimHistory(conversation, budget);
      expect(toolRoundsWhole(trimmed), `budget ${budget}`).toBe(true);
      expect(trimmed[0]!.getType(), `budget ${budget}`).toBe("human");
      expect(trimmed, `budget ${budget}`).toEqual(conversation.slice(conversation.length - trimmed.length));
    }
  });

  it("keeps the newest user message with its tool round whole, even alone over budget", async () => {
    const running = [
      ...conversation.slice(0, 2),
      new HumanMessage(text(50, "q")),
      call("c2"),
      result("c2", text(50, "r")),
    ];
    for (const budget of [0, 1, 60]) {
      expect(shape(await trimHistory(running, budget))).toEqual(shape(running.slice(2)));
    }
  });
});

describe("the agent node under a history budget (fake chat model)", () => {
  it("sends the system prompt first and the newest turns, however small the budget", async () => {
    const sent: BaseMessage[][] = [];
    const fake = new FakeListChatModel({ responses: ["Sure."] });
    const policy = {
      attemptTimeoutMs: 5_000,
      totalDeadlineMs: 10_000,
      maxRetries: 0,
      breaker: { failureThreshold: 100, cooldownMs: 60_000 },
    };
    const model = new ResilientChatModel([{ name: "fake", model: fake }], policy);
    const chat: ChatStream = {
      stream(messages, options) {
        sent.push(messages);
        return model.stream(messages, options);
      },
    };
    const now = new Date("2026-01-02T03:04:00Z");
    const system = renderSystemPrompt({ agentName: "Ada", now });
    expect(estimateTokens(system)).toBeGreaterThan(5); // the budget below could never hold it
    const messages = [...conversation, new HumanMessage("And now?")];
    const node = callModel({ chat, tools: [], agentName: "Ada", historyTokenBudget: 5, now: () => now });
    const update = await node(
      { messages, memories: [], userId: "u" } as unknown as AgentStateType,
      {} as LangGraphRunnableConfig<AgentContextType>,
    );

    const [first, ...history] = sent[0]!;
    expect(first!.getType()).toBe("system");
    expect(first!.text).toBe(system);
    expect(shape(history)).toEqual(["human:And now?"]);
    expect(update.messages[0]!.text).toBe("Sure.");
  });
});
