// Which copy of a conversation wins: the stored rows are the record, the LangGraph checkpoint is the agent's
// working copy (with the tool rounds the rows leave out). runInput's output is applied with the graph's own
// messages reducer, so each case shows the messages the model will actually see.
import { AIMessage, type BaseMessage, HumanMessage, RemoveMessage, ToolMessage } from "@langchain/core/messages";
import { messagesStateReducer, REMOVE_ALL_MESSAGES } from "@langchain/langgraph";
import { describe, expect, it } from "vitest";
import { type ConversationTurn, runInput } from "./conversation-sync.ts";
import { syncConversation } from "./nodes/sync-conversation.ts";
import type { AgentStateType } from "./state.ts";

const user = (content: string): ConversationTurn => ({ role: "user", content });
const assistant = (content: string): ConversationTurn => ({ role: "assistant", content });

/** A checkpointed thread: one question answered through a tool, then a plain exchange. */
function checkpointWithToolRound(): BaseMessage[] {
  return [
    new HumanMessage({ id: "h1", content: "Time?" }),
    new AIMessage({
      id: "a1",
      content: "",
      tool_calls: [{ id: "c1", name: "current_time", args: {}, type: "tool_call" }],
    }),
    new ToolMessage({ id: "t1", content: "noon", tool_call_id: "c1", name: "current_time" }),
    new AIMessage({ id: "a2", content: "It is noon." }),
  ];
}
const rowsOfThatThread = [user("Time?"), assistant("It is noon.")];

/** What the thread holds after the run's first node: runInput's output through the messages reducer. */
const stateAfterRun = (checkpointed: BaseMessage[], history: ConversationTurn[]) =>
  messagesStateReducer(checkpointed, runInput(history, checkpointed));
const shape = (messages: BaseMessage[]) => messages.map((message) => `${message.getType()}:${message.text}`);
const isRebuild = (input: BaseMessage[]) => input[0] instanceof RemoveMessage && input[0].id === REMOVE_ALL_MESSAGES;

describe("runInput: rows and checkpoint agree", () => {
  it("appends only the new user message, keeping the checkpoint's tool calls and results", () => {
    const checkpointed = checkpointWithToolRound();
    const input = runInput([...rowsOfThatThread, user("Thanks")], checkpointed);
    expect(isRebuild(input)).toBe(false);
    expect(shape(input)).toEqual(["human:Thanks"]);
    expect(shape(stateAfterRun(checkpointed, [...rowsOfThatThread, user("Thanks")]))).toEqual([
      "human:Time?",
      "ai:",
      "tool:noon",
      "ai:It is noon.",
      "human:Thanks",
    ]);
  });

  it("starts a new thread (empty checkpoint, first message) with just that message", () => {
    expect(shape(runInput([user("Hi")], []))).toEqual(["human:Hi"]);
  });
});

describe("runInput: rows and checkpoint disagree — the rows win and the checkpoint is rebuilt from them", () => {
  const cases: Array<[string, BaseMessage[], ConversationTurn[]]> = [
    [
      "an answer's text differs",
      checkpointWithToolRound(),
      [user("Time?"), assistant("Noon, roughly."), user("Thanks")],
    ],
    ["the checkpoint has a turn the rows lack", checkpointWithToolRound(), [user("Thanks")]],
    ["the rows have turns the checkpoint lacks (lost or new checkpoint)", [], [...rowsOfThatThread, user("Thanks")]],
    ["a role differs", [new HumanMessage("Hi"), new AIMessage("Hello")], [user("Hi"), user("Hello"), user("Thanks")]],
  ];
  it.each(cases)("%s", (_label, checkpointed, history) => {
    const input = runInput(history, checkpointed);
    expect(isRebuild(input)).toBe(true);
    // Exactly the rows, in order: the checkpoint's own messages (and tool rounds) are gone.
    expect(shape(stateAfterRun(checkpointed, history))).toEqual(
      history.map((turn) => `${turn.role === "user" ? "human" : "ai"}:${turn.content}`),
    );
  });

  it("rebuilds when the checkpoint stopped between a tool call and its result, even if the turns match", () => {
    const stopped = checkpointWithToolRound().slice(0, 2); // "Time?" then the model's unanswered tool call
    const history = [user("Time?")];
    // The turns agree (the call is no answer), yet a provider would refuse a call without its result.
    expect(isRebuild(runInput([...history, user("Again?")], stopped))).toBe(true);
    expect(shape(stateAfterRun(stopped, [...history, user("Again?")]))).toEqual(["human:Time?", "human:Again?"]);
  });

  it("maps each row to its message type, system rows included", () => {
    const history: ConversationTurn[] = [
      { role: "system", content: "Be brief." },
      user("Hi"),
      assistant("Hello"),
      user("Bye"),
    ];
    expect(stateAfterRun([], history).map((message) => message.getType())).toEqual(["system", "human", "ai", "human"]);
  });
});

describe("syncConversation", () => {
  it("leaves the checkpoint alone when the run brings no turns", () => {
    const checkpointed = checkpointWithToolRound();
    expect(
      syncConversation({ messages: checkpointed, turns: [], memories: [], userId: "u" } as unknown as AgentStateType),
    ).toEqual({});
  });

  it("hands the rows and the checkpoint to runInput", () => {
    const checkpointed = checkpointWithToolRound();
    const update = syncConversation({
      messages: checkpointed,
      turns: [...rowsOfThatThread, user("Thanks")],
      memories: [],
      userId: "u",
    } as unknown as AgentStateType);
    expect(shape(update.messages!)).toEqual(["human:Thanks"]);
  });
});
