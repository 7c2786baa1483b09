// The offline dev model: a real LangChain chat model that streams a deterministic reply word by word,
// so the whole API (graph, streaming, storage) runs on a plane. It says what it is in every reply.
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager";
import { BaseChatModel, type BaseChatModelParams } from "@langchain/core/language_models/chat_models";
import { AIMessage, AIMessageChunk, type BaseMessage, ToolMessage } from "@langchain/core/messages";
import type { StructuredToolInterface } from "@langchain/core/tools";
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs";
import { setTimeout as sleep } from "node:timers/promises";
import { devMemoryExtractionAnswer, devRecallNote, isMemoryNote } from "../memory/dev-memory.ts";
import { estimateUsage } from "../token-estimate.ts";

export interface DevChatModelParams extends BaseChatModelParams {
  /** Pause between streamed words, so streaming is visible in a UI. @default 15 */
  tokenDelayMs?: number;
  /** Names of the tools bound with `bindTools` (the dev model calls `current_time` when asked the time). */
  toolNames?: string[];
}

/** Questions the dev model answers through the current_time tool, so tool events can be seen offline. */
const ASKS_FOR_TIME = /\b(what time|what's the time|what is the time|time is it|today's date|what day)\b/i;

export const DEV_MODEL_NAME = "offline-dev-model";
const QUOTE_LIMIT = 200;

export class DevChatModel extends BaseChatModel {
  private readonly tokenDelayMs: number;
  private readonly toolNames: string[];

  constructor({ tokenDelayMs = 15, toolNames = [], ...params }: DevChatModelParams = {}) {
    super(params);
    this.tokenDelayMs = tokenDelayMs;
    this.toolNames = toolNames;
  }

  override bindTools(tools: StructuredToolInterface[]) {
    return new DevChatModel({ tokenDelayMs: this.tokenDelayMs, toolNames: tools.map((tool) => tool.name) });
  }

  private wantsTime(messages: BaseMessage[]): boolean {
    const last = messages.at(-1);
    return this.toolNames.includes("current_time") && last?.getType() === "human" && ASKS_FOR_TIME.test(last.text);
  }

  _llmType(): string {
    return DEV_MODEL_NAME;
  }

  async _generate(messages: BaseMessage[], options: this["ParsedCallOptions"]): Promise<ChatResult> {
    const text = composeWithMemory(messages);
    if (options.signal?.aborted) throw options.signal.reason;
    return {
      generations: [{ text, message: new AIMessage({ content: text, usage_metadata: devUsage(messages, text) }) }],
    };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    if (this.wantsTime(messages)) {
      // A tool call, streamed the way providers do: the model asks, the graph runs the tool, the model answers.
      const call = {
        name: "current_time",
        args: JSON.stringify({ timeZone: "UTC" }),
        id: `dev-call-${messages.length}`,
        index: 0,
      };
      yield new ChatGenerationChunk({
        text: "",
        message: new AIMessageChunk({ content: "", tool_call_chunks: [call] }),
      });
      return;
    }
    const reply = composeWithMemory(messages);
    for (const token of splitIntoTokens(reply)) {
      if (this.tokenDelayMs > 0) await sleep(this.tokenDelayMs, undefined, { signal: options.signal });
      else options.signal?.throwIfAborted();
      yield new ChatGenerationChunk({ text: token, message: new AIMessageChunk({ content: token }) });
      await runManager?.handleLLMNewToken(token);
    }
    // Reported like a provider's final usage chunk, so quotas and usage work the same offline.
    const usage = devUsage(messages, reply);
    yield new ChatGenerationChunk({ text: "", message: new AIMessageChunk({ content: "", usage_metadata: usage }) });
  }
}

/** The app's one usage estimate (token-estimate.ts), in the provider's field names. */
function devUsage(messages: BaseMessage[], reply: string) {
  const { inputTokens, outputTokens } = estimateUsage(messages, reply);
  return { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens };
}

/** Same conversation in, same reply out. */
function composeDevReply(messages: BaseMessage[]): string {
  const last = messages.at(-1);
  if (last instanceof ToolMessage) {
    return `The ${last.name ?? "tool"} tool says: ${last.text} (This is the offline dev model; a real model would phrase it.)`;
  }
  // The memory note is sent as a user-role message, but the user did not type it.
  const userMessages = messages.filter((message) => message.getType() === "human" && !isMemoryNote(message));
  const said = userMessages.at(-1)?.text.trim().replace(/\s+/g, " ") ?? "";
  const quote = said.length > QUOTE_LIMIT ? `${said.slice(0, QUOTE_LIMIT)}…` : said;
  const userTurns = userMessages.length;
  return [
    `This is the offline dev model, not a real LLM: this reply is canned and deterministic.`,
    `You said: "${quote}" (turn ${userTurns} of this conversation).`,
    `Set OPENAI_API_KEY (and optionally OPENAI_BASE_URL and LLM_MODEL) to talk to a real model.`,
  ].join(" ");
}

/** Words with their trailing whitespace, so the concatenated chunks equal the reply exactly. */
function splitIntoTokens(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}

// --- Long-term memory (rules in ../memory/dev-memory.ts) ----------------------------------------------------------

/**
 * Memory extraction requests get a rule-based answer, and replies end by naming the memories recalled into the
 * memory note (see prompts/system-prompt.ts), so extraction and recall can be seen (and tested end to end) offline.
 */
function composeWithMemory(messages: BaseMessage[]): string {
  const extraction = devMemoryExtractionAnswer(messages);
  if (extraction !== undefined) return extraction;
  const note = devRecallNote(messages);
  const reply = composeDevReply(messages);
  return note ? `${reply} ${note}` : reply;
}
