// A local OpenAI-compatible server (POST /v1/chat/completions, streaming SSE), so tests exercise the real
// ChatOpenAI path without a network. By default every request gets the same short reply; `plan()` scripts
// failures (statuses, hangs, cut streams) and tool calls per model. The last user message can also steer it:
// "[fail]" answers HTTP 500 every time.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type FakeStep =
  /** The default: FAKE_REPLY_TOKENS (or these), one SSE chunk each, `tokenDelayMs` apart. */
  | { kind: "reply"; tokens?: string[]; tokenDelayMs?: number }
  /** Replies `Echo: <content of the request's last message>`, e.g. a tool's result after a tool call. */
  | { kind: "echo" }
  /** Streamed as tool_call deltas (name, then the arguments in two pieces), finish_reason "tool_calls". */
  | { kind: "toolCall"; calls: Array<{ name: string; args: Record<string, unknown> }> }
  | { kind: "status"; status: number; retryAfterSeconds?: number }
  /** Headers are never sent; the request ends when the client disconnects. */
  | { kind: "hang" }
  /**
   * Streams `afterTokens` reply tokens, then destroys the socket; `graceful` ends the response cleanly instead,
   * but still without a finish_reason or [DONE] (a proxy that gave up).
   */
  | { kind: "cut"; afterTokens: number; graceful?: boolean };

export interface FakeRequest {
  model: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  messages: Array<{ role: string; content: string | null; tool_calls?: unknown[]; tool_call_id?: string }>;
  tools?: Array<{ type: string; function: { name: string; description?: string; parameters?: unknown } }>;
}

export interface FakeOpenAI {
  baseUrl: string;
  /** Every request body received, in order (including the ones a plan answered with a failure). */
  requests: FakeRequest[];
  /** Queues steps for requests naming `model` (or any model, "*", after that model's own steps), one per request. */
  plan(model: string, steps: FakeStep[]): void;
  /**
   * Queues steps for requests whose messages contain `marker` (a conversation's unique text), one per request, ahead
   * of any model plan: tests running side by side cannot take each other's steps. Unused steps are dropped by
   * `clearPlans`.
   */
  planFor(marker: string, steps: FakeStep[]): void;
  /** Drops the steps still planned (a test that stopped a run early leaves some). */
  clearPlans(): void;
  close(): Promise<void>;
}

export const FAKE_REPLY_TOKENS = ["Hello", " from", " the", " fake", " OpenAI", " server", "."];
/** Reported in the final usage chunk when the client asks for it (`stream_options.include_usage`). */
export const FAKE_USAGE = { prompt_tokens: 42, completion_tokens: FAKE_REPLY_TOKENS.length };

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const requests: FakeRequest[] = [];
  const plans = new Map<string, FakeStep[]>();
  const markedPlans = new Map<string, FakeStep[]>();
  // Unique across servers too: LangGraph's message reducer merges messages that share an id (stack notes Q7).
  const idPrefix = `chatcmpl-${randomBytes(4).toString("hex")}`;
  let completions = 0;

  const nextStep = (body: FakeRequest): FakeStep => {
    for (const [marker, steps] of markedPlans) {
      if (steps.length > 0 && body.messages.some((message) => String(message.content).includes(marker)))
        return steps.shift()!;
    }
    const planned = plans.get(body.model)?.shift() ?? plans.get("*")?.shift();
    if (planned) return planned;
    const lastUser = [...body.messages].reverse().find((m) => m.role === "user");
    return String(lastUser?.content).includes("[fail]") ? { kind: "status", status: 500 } : { kind: "reply" };
  };

  const server = createServer(async (req, res) => {
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(await readBody(req)) as FakeRequest;
    requests.push(body);
    const sse = new SseWriter(res, `${idPrefix}-${++completions}`, body.model);
    await answer(nextStep(body), body, req, res, sse);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    plan: (model, steps) => plans.set(model, [...(plans.get(model) ?? []), ...steps]),
    planFor: (marker, steps) => markedPlans.set(marker, [...(markedPlans.get(marker) ?? []), ...steps]),
    clearPlans: () => {
      plans.clear();
      markedPlans.clear();
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // hanging requests would otherwise keep close() waiting
      }),
  };
}

async function answer(step: FakeStep, body: FakeRequest, req: IncomingMessage, res: ServerResponse, sse: SseWriter) {
  switch (step.kind) {
    case "status": {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (step.retryAfterSeconds !== undefined) headers["retry-after"] = String(step.retryAfterSeconds);
      const type =
        step.status >= 500 ? "server_error" : step.status === 429 ? "rate_limit_exceeded" : "invalid_request_error";
      res
        .writeHead(step.status, headers)
        .end(JSON.stringify({ error: { message: `fake status ${step.status}`, type } }));
      return;
    }
    case "hang":
      await once(req.socket, "close");
      return;
    case "cut": {
      sse.start();
      for (const token of FAKE_REPLY_TOKENS.slice(0, step.afterTokens)) sse.delta({ content: token });
      if (step.graceful) res.end();
      // After the written chunks reach the socket, so the client sees them before the break.
      else res.write("", () => res.socket?.destroy());
      return;
    }
    case "toolCall": {
      sse.start(null);
      step.calls.forEach(({ name, args }, index) => {
        const id = `call_${sse.id}_${index}`;
        const json = JSON.stringify(args);
        const half = Math.floor(json.length / 2);
        sse.delta({
          tool_calls: [{ index, id, type: "function", function: { name, arguments: json.slice(0, half) } }],
        });
        sse.delta({ tool_calls: [{ index, function: { arguments: json.slice(half) } }] });
      });
      sse.finish("tool_calls", body, step.calls.length);
      return;
    }
    case "echo":
    case "reply": {
      const tokens =
        step.kind === "echo"
          ? ["Echo: ", String(body.messages.at(-1)?.content ?? "")]
          : (step.tokens ?? FAKE_REPLY_TOKENS);
      const delayMs = step.kind === "reply" ? (step.tokenDelayMs ?? 0) : 0;
      sse.start();
      for (const token of tokens) {
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        if (res.destroyed) return;
        sse.delta({ content: token });
      }
      sse.finish("stop", body, tokens.length);
      return;
    }
  }
}

/** `chat.completion.chunk` events of one completion. */
class SseWriter {
  constructor(
    private readonly res: ServerResponse,
    readonly id: string,
    private readonly model: string,
  ) {}

  start(content: string | null = "") {
    this.res.writeHead(200, { "content-type": "text/event-stream" });
    this.delta({ role: "assistant", content });
  }

  delta(delta: object, finishReason: string | null = null) {
    this.send({ choices: [{ index: 0, delta, finish_reason: finishReason }] });
  }

  finish(finishReason: string, body: FakeRequest, completionTokens: number) {
    this.delta({}, finishReason);
    if (body.stream_options?.include_usage) {
      const { prompt_tokens } = FAKE_USAGE;
      this.send({
        choices: [],
        usage: { prompt_tokens, completion_tokens: completionTokens, total_tokens: prompt_tokens + completionTokens },
      });
    }
    this.res.end("data: [DONE]\n\n");
  }

  private send(fields: object) {
    this.res.write(
      `data: ${JSON.stringify({ id: this.id, object: "chat.completion.chunk", created: 0, model: this.model, ...fields })}\n\n`,
    );
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
