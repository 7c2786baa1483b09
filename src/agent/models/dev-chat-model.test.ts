import { type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { describe, expect, it } from "vitest";
import { DevChatModel } from "./dev-chat-model.ts";

async function streamed(model: DevChatModel, messages: BaseMessage[]): Promise<string[]> {
  const chunks: string[] = [];
  for await (const chunk of await model.stream(messages)) chunks.push(chunk.text);
  return chunks;
}

describe("DevChatModel", () => {
  it("streams the same deterministic reply token by token, saying what it is", async () => {
    const model = new DevChatModel({ tokenDelayMs: 0 });
    const messages = [new HumanMessage("Tell me <b>about</b> GraphQL")];
    const chunks = await streamed(model, messages);
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.join("")).toBe((await streamed(model, messages)).join("")); // the same reply every time
    expect(chunks.join("")).toContain("offline dev model");
    expect(chunks.join("")).toContain("Tell me <b>about</b> GraphQL");
    expect((await model.invoke(messages)).text).toBe(chunks.join(""));
  });

  it("stops when its signal aborts", async () => {
    const model = new DevChatModel({ tokenDelayMs: 20 });
    const controller = new AbortController();
    const received: string[] = [];
    const run = (async () => {
      for await (const chunk of await model.stream([new HumanMessage("hi")], { signal: controller.signal })) {
        received.push(chunk.text);
        if (received.length === 2) controller.abort();
      }
    })();
    await expect(run).rejects.toThrow();
    expect(received).toHaveLength(2);
  });

  it("splits into words that concatenate back exactly", async () => {
    const text = "a  b\n\tc d ";
    // A tool's result is quoted as it is (a user's words are quoted with their whitespace collapsed).
    const result = new ToolMessage({ content: text, tool_call_id: "call-1", name: "current_time" });
    const chunks = await streamed(new DevChatModel({ tokenDelayMs: 0 }), [
      new HumanMessage("What time is it?"),
      result,
    ]);
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.join("")).toContain(text);
  });
});
