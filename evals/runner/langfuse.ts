// `npm run evals -- --from-langfuse`: grades recent production traces with the judge metrics (and the prompt-leak
// check), page by page through Langfuse's public API, and writes each score back to its trace.
import { langfuseEndpoint } from "../../src/observability/tracing.ts";
import { promptLeakCheck } from "./checks.ts";
import {
  gradeWithJudge,
  mapConcurrently,
  retryPolicy,
  type CaseResult,
  type RetryPolicy,
  type Score,
} from "./evaluate.ts";
import type { Judge, JudgeInput } from "./judges.ts";
import { CHECKS, type JudgeMetric } from "./metrics.ts";
import type { Progress } from "./progress.ts";
import { summarize, type Report } from "./report.ts";

export interface LangfuseOptions {
  judge: Judge;
  metrics: JudgeMetric[];
  concurrency: number;
  retries: number;
  /** An ISO time, or a duration back from now: 90m, 24h, 7d. */
  since: string;
  maxTraces: number;
  /** Traces asked for per page. @default 50 */
  pageSize?: number;
  agentName?: string;
  /** Told how many traces will be graded, then of each one graded. */
  progress?: (total: number) => Progress;
}

export interface LangfuseTrace {
  id: string;
  timestamp?: string;
  input?: unknown;
  output?: unknown;
}

/** Scores are named like this in Langfuse, so they sort together and never clash with users' feedback. */
const scoreName = (metric: string) => `eval.${metric}`;

export async function scoreLangfuseTraces(
  env: Record<string, string | undefined>,
  options: LangfuseOptions,
): Promise<Omit<Report, "passed" | "baseline">> {
  const api = langfuseApi(env);
  const started = Date.now();
  const from = sinceDate(options.since);
  const policy = retryPolicy(options.retries);
  const traces = await api.traces(from, options.maxTraces, options.pageSize ?? 50, policy);
  const gradable = traces
    .map((trace) => ({ trace, input: judgeInputOfTrace(trace) }))
    .filter((item) => item.input !== undefined);
  console.error(
    `evals: ${traces.length} traces since ${from.toISOString()}, ${gradable.length} with a question and a reply; judged by ${options.judge.name}`,
  );
  const leakCheck = CHECKS.find((check) => check.name === "no_prompt_leak")!;
  const progress = options.progress?.(gradable.length);
  const cases = await mapConcurrently(gradable, options.concurrency, async ({ trace, input }): Promise<CaseResult> => {
    const scores: Record<string, Score> = {
      [leakCheck.name]: promptLeakCheck([input!.reply], options.agentName ?? env.AGENT_NAME ?? "Ada"),
      ...(await gradeWithJudge(options.judge, options.metrics, input!, policy)),
    };
    for (const [name, score] of Object.entries(scores)) await policy.execute(() => api.score(trace.id, name, score));
    progress?.done(
      trace.id,
      Object.values(scores).every((score) => score.pass),
    );
    const turn = { user: input!.conversation.findLast((t) => t.role === "user")?.content ?? "", reply: input!.reply };
    const emptyTurn = {
      status: "COMPLETE",
      errorCode: null,
      model: null,
      outputTokens: null,
      toolCalls: [],
      firstTokenMs: null,
      latencyMs: 0,
    };
    return { id: trace.id, turns: [{ ...emptyTurn, ...turn }], setup: [], scores };
  });
  progress?.finish();
  return {
    kind: "langfuse",
    createdAt: new Date().toISOString(),
    model: "production traces",
    judge: options.judge.name,
    durationMs: Date.now() - started,
    metrics: summarize([leakCheck, ...options.metrics], cases),
    cases,
  };
}

function langfuseApi(env: Record<string, string | undefined>) {
  const { LANGFUSE_PUBLIC_KEY: publicKey, LANGFUSE_SECRET_KEY: secretKey } = env;
  if (!publicKey || !secretKey)
    throw new Error(
      "--from-langfuse needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (and LANGFUSE_BASE_URL unless Langfuse Cloud)",
    );
  const { url, authorization } = langfuseEndpoint({
    publicKey,
    secretKey,
    baseUrl: env.LANGFUSE_BASE_URL || undefined,
  });
  const call = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(url(path), {
      ...init,
      headers: { authorization, "content-type": "application/json", ...init.headers },
    });
    if (!response.ok)
      throw new Error(
        `Langfuse ${init.method ?? "GET"} ${path.split("?")[0]}: HTTP ${response.status} ${(await response.text()).slice(0, 200)}`,
      );
    return response.json() as Promise<unknown>;
  };
  return {
    /** Newest first, page after page, until `max` traces or the last page. */
    async traces(from: Date, max: number, pageSize: number, policy: RetryPolicy): Promise<LangfuseTrace[]> {
      const traces: LangfuseTrace[] = [];
      for (let page = 1; traces.length < max; page++) {
        const query = new URLSearchParams({
          page: String(page),
          limit: String(Math.min(pageSize, max - traces.length)),
          fromTimestamp: from.toISOString(),
          orderBy: "timestamp.desc",
        });
        const body = (await policy.execute(() => call(`/api/public/traces?${query}`))) as {
          data: LangfuseTrace[];
          meta?: { totalPages?: number };
        };
        traces.push(...body.data);
        if (body.data.length === 0 || page >= (body.meta?.totalPages ?? page)) break;
      }
      return traces;
    },
    /** Upserts: the id is the trace's and the metric's, so grading a trace again replaces its scores. */
    async score(traceId: string, metric: string, { score, reason }: Score): Promise<void> {
      const name = scoreName(metric);
      await call("/api/public/scores", {
        method: "POST",
        body: JSON.stringify({
          id: `${traceId}-${name}`,
          traceId,
          name,
          value: score,
          dataType: "NUMERIC",
          comment: reason,
        }),
      });
    },
  };
}

export function sinceDate(since: string, now = Date.now()): Date {
  const duration = /^(\d+)\s*(m|h|d)$/.exec(since.trim());
  if (duration)
    return new Date(
      now - Number(duration[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2] as "m" | "h" | "d"],
    );
  const date = new Date(since);
  if (Number.isNaN(date.getTime())) throw new Error(`--since: "${since}" is neither a time nor a duration like 24h`);
  return date;
}

/**
 * What a trace of this app holds, as the judge's input: the run's input is `{ turns: [{ role, content }], userId }`
 * and its output the final agent state, whose messages Langfuse's LangChain handler records as `{ role, content }`
 * (a tool result's role is the tool's name; LangChain's own serialized form and plain strings are read too). Undefined when there is no question or reply.
 */
export function judgeInputOfTrace(trace: LangfuseTrace): JudgeInput | undefined {
  const input = trace.input as
    | { turns?: Array<{ role?: string; content?: unknown }>; messages?: unknown[] }
    | string
    | undefined;
  const history =
    typeof input === "string"
      ? [{ role: "user", content: input }]
      : (input?.turns ?? (input?.messages ?? []).map(plainMessage));
  const conversation = history
    .filter(
      (turn): turn is { role: string; content: string } =>
        (turn?.role === "user" || turn?.role === "assistant") && typeof turn.content === "string",
    )
    .map((turn) => ({ role: turn.role as "user" | "assistant", content: turn.content }));
  const output = trace.output as { messages?: unknown[]; memories?: unknown } | string | undefined;
  const outputMessages = typeof output === "object" && output ? (output.messages ?? []).map(plainMessage) : [];
  const reply =
    typeof output === "string"
      ? output
      : outputMessages.findLast((message) => message?.role === "assistant" && message.content)?.content;
  if (!conversation.some((turn) => turn.role === "user") || typeof reply !== "string" || reply.trim() === "")
    return undefined;
  const toolResults = outputMessages
    .filter((message) => message?.role === "tool")
    .map((message) => ({ name: message!.name ?? "tool", result: message!.content }));
  const memories =
    typeof output === "object" && Array.isArray(output?.memories)
      ? output.memories.filter((m): m is string => typeof m === "string")
      : [];
  return {
    conversation: [...conversation, { role: "assistant", content: reply }],
    reply,
    toolResults,
    memories,
    reference: [],
  };
}

const ROLES: Record<string, string> = {
  human: "user",
  user: "user",
  ai: "assistant",
  assistant: "assistant",
  tool: "tool",
  HumanMessage: "user",
  AIMessage: "assistant",
  AIMessageChunk: "assistant",
  ToolMessage: "tool",
};

/** A message as { role, content, name } from any of the shapes LangChain and Langfuse serialize it in. */
function plainMessage(value: unknown): { role: string; content: string; name?: string } | undefined {
  if (!value || typeof value !== "object") return undefined;
  const message = value as {
    lc?: number;
    id?: string[];
    kwargs?: Record<string, unknown>;
    role?: string;
    type?: string;
    content?: unknown;
    name?: string;
  };
  const fields = message.lc ? (message.kwargs ?? {}) : (message as Record<string, unknown>);
  const content = textOf(fields.content);
  if (content === undefined) return undefined;
  const named = message.lc ? (message.id?.at(-1) ?? "") : (message.role ?? message.type ?? "");
  const role = ROLES[named];
  if (role) return { role, content, name: typeof fields.name === "string" ? fields.name : undefined };
  // Langfuse's handler records a tool's result with the tool's name as its role.
  return !message.lc && typeof message.role === "string" && message.role !== "system"
    ? { role: "tool", content, name: message.role }
    : undefined;
}

function textOf(content: unknown): string | undefined {
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content
      .map((part) => (typeof part === "string" ? part : ((part as { text?: string })?.text ?? "")))
      .join("");
  return undefined;
}
