import { AIMessage, ToolMessage } from "@langchain/core/messages";
import type { StructuredToolInterface } from "@langchain/core/tools";
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import type { AgentStateType, AgentStreamEvent } from "../state.ts";

/** Tool output beyond this is cut: a runaway page must not crowd the conversation out of the context. */
const MAX_RESULT_CHARS = 8000;

/**
 * Runs the tool calls of the model's last message, in parallel, each under its own timeout. A failure
 * (unknown tool, bad arguments, error, timeout) becomes an "Error: …" result the model can read and work
 * around; only the run's own cancellation stops the node.
 */
export function runTools(tools: StructuredToolInterface[], timeoutMs: number) {
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  return async (state: AgentStateType, config: LangGraphRunnableConfig) => {
    const emit = (event: AgentStreamEvent) => config.writer?.(event);
    const last = state.messages.at(-1);
    const calls = last instanceof AIMessage ? (last.tool_calls ?? []) : [];
    const messages = await Promise.all(
      calls.map(async (call, index) => {
        const callId = call.id ?? `call_${index}`;
        emit({ type: "toolStarted", callId, name: call.name, arguments: call.args });
        const { result, isError } = await runOne(byName.get(call.name), call.name, call.args, timeoutMs, config.signal);
        config.signal?.throwIfAborted();
        emit({ type: "toolFinished", callId, name: call.name, result, isError });
        return new ToolMessage({ content: result, tool_call_id: callId, name: call.name, status: isError ? "error" : "success" });
      }),
    );
    return { messages };
  };
}

async function runOne(
  tool: StructuredToolInterface | undefined,
  name: string,
  args: Record<string, unknown>,
  timeoutMs: number,
  runSignal: AbortSignal | undefined,
): Promise<{ result: string; isError: boolean }> {
  if (!tool) return { result: `Error: there is no tool named "${name}".`, isError: true };
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = runSignal ? AbortSignal.any([runSignal, timeout]) : timeout;
  try {
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    const output: unknown = await Promise.race([tool.invoke(args, { signal }), aborted]);
    const text = typeof output === "string" ? output : JSON.stringify(output);
    return { result: text.length > MAX_RESULT_CHARS ? `${text.slice(0, MAX_RESULT_CHARS)}…` : text, isError: false };
  } catch (error) {
    if (runSignal?.aborted) throw error;
    const reason = timeout.aborted ? `timed out after ${timeoutMs} ms` : error instanceof Error ? error.message : String(error);
    return { result: `Error: ${name} failed: ${reason}`, isError: true };
  }
}
