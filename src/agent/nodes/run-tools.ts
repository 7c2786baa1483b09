import { AIMessage, ToolMessage } from "@langchain/core/messages";
import { type StructuredToolInterface, ToolInputParsingException } from "@langchain/core/tools";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { untilAborted } from "../../observability/deadline.ts";
import type { Logger } from "../../observability/logger.ts";
import { delimit, type UntrustedOutputMetadata } from "../prompts/untrusted.ts";
import type { AgentStateType, AgentStreamEvent } from "../state.ts";
import { ToolError } from "../tools/tool-error.ts";

/** Tool output beyond this is cut: a runaway page must not crowd the conversation out of the context. */
const MAX_RESULT_CHARS = 8000;

/** What a result says about an error the tool did not describe for the user itself (ToolError). */
export const UNEXPECTED_TOOL_ERROR = "an unexpected error occurred";

export interface RunToolsOptions {
  /** Each call is stopped after this long and reported as timed out. */
  timeoutMs: number;
  /** Hears the detail of each failed call (the result says only what the user may see). */
  logger?: Pick<Logger, "warn">;
}

/**
 * Runs the tool calls of the model's last message, in parallel, each under its own timeout. A failure
 * (unknown tool, bad arguments, error, timeout) becomes an "Error: …" result the model can read and work
 * around; only the run's own cancellation stops the node. Results reach the client (ToolCallFinished) and the
 * stored ToolCall row, so an error is described only when it is the model's own doing (an unknown tool, bad
 * arguments), a timeout, or a ToolError written for the user; anything else is "an unexpected error", its
 * detail logged.
 */
export function runTools(tools: StructuredToolInterface[], { timeoutMs, logger }: RunToolsOptions) {
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  return async (state: AgentStateType, config: LangGraphRunnableConfig) => {
    const emit = (event: AgentStreamEvent) => config.writer?.(event);
    const last = state.messages.at(-1);
    const calls = last instanceof AIMessage ? (last.tool_calls ?? []) : [];
    const messages = await Promise.all(
      calls.map(async (call, index) => {
        const callId = call.id ?? `call_${index}`;
        const tool = byName.get(call.name);
        emit({ type: "toolStarted", callId, name: call.name, arguments: call.args });
        const { result, isError, detail } = await runOne(tool, call.name, call.args, timeoutMs, config.signal);
        config.signal?.throwIfAborted();
        if (detail !== undefined) logger?.warn({ err: detail, tool: call.name, callId }, "tool call failed");
        emit({ type: "toolFinished", callId, name: call.name, result, isError });
        // The client sees the output as the tool wrote it; the model sees strangers' text marked as data.
        const tag = untrustedOutputTag(tool);
        const content = tag && !isError ? delimit(tag, result) : result;
        return new ToolMessage({
          content,
          tool_call_id: callId,
          name: call.name,
          status: isError ? "error" : "success",
        });
      }),
    );
    return { messages };
  };
}

function untrustedOutputTag(tool: StructuredToolInterface | undefined): string | undefined {
  // Tools made with `tool(...)` keep their metadata; the interface does not declare it.
  const metadata = (tool as { metadata?: Partial<UntrustedOutputMetadata> } | undefined)?.metadata;
  const tag = metadata?.untrustedOutputTag;
  return typeof tag === "string" && tag !== "" ? tag : undefined;
}

async function runOne(
  tool: StructuredToolInterface | undefined,
  name: string,
  args: Record<string, unknown>,
  timeoutMs: number,
  runSignal: AbortSignal | undefined,
): Promise<{ result: string; isError: boolean; detail?: unknown }> {
  if (!tool) return { result: `Error: there is no tool named "${name}".`, isError: true };
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = runSignal ? AbortSignal.any([runSignal, timeout]) : timeout;
  try {
    const output: unknown = await untilAborted(tool.invoke(args, { signal }), signal);
    const text = typeof output === "string" ? output : JSON.stringify(output);
    return { result: text.length > MAX_RESULT_CHARS ? `${text.slice(0, MAX_RESULT_CHARS)}…` : text, isError: false };
  } catch (error) {
    if (runSignal?.aborted) throw error;
    const failed = (reason: string, detail?: unknown) => ({
      result: `Error: ${name} failed: ${reason}`,
      isError: true,
      detail,
    });
    if (timeout.aborted) return failed(`timed out after ${timeoutMs} ms`, error);
    // The model's own arguments, checked against the tool's schema: telling it what was wrong lets it retry.
    if (error instanceof ToolInputParsingException) return failed(`invalid arguments: ${error.message}`);
    if (error instanceof ToolError) return failed(error.message, error);
    return failed(UNEXPECTED_TOOL_ERROR, error);
  }
}
