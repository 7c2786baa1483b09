import { HumanMessage } from "@langchain/core/messages";
import { describe, expect, it } from "vitest";
import { DevChatModel, composeDevReply, splitIntoTokens } from "./dev-chat-model.ts";

describe("DevChatModel", () => {
  it("streams the same deterministic reply token by token, saying what it is", async () => {
    const model = new DevChatModel({ tokenDelayMs: 0 });
    const messages = [new HumanMessage("Tell me <b>about</b> GraphQL")];
    const chunks: string[] = [];
    for await (const chunk of await model.stream(messages)) chunks.push(chunk.text);
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.join("")).toBe(composeDevReply(messages));
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

  it("splits into words that concatenate back exactly", () => {
    const text = "a  b\n\tc d ";
    expect(splitIntoTokens(text).join("")).toBe(text);
  });
});
