// The load benchmark's model: an OpenAI-compatible server (POST /v1/chat/completions, streaming SSE) in a process of
// its own, so its timers do not share an event loop with the load client. Started by fake-llm.ts over an IPC channel;
// exits when that channel closes.
//
// A reply (a request with `tools`) streams FAKE_LLM_TOKENS tokens at FAKE_LLM_RATE tokens/s, token i at
// i+1 intervals after the request arrived. Each token's text is `t<i>@<wall-clock ms with µs> `, written the moment it
// is sent, so the client can tell how long the token took to reach it from the delta text alone. A memory extraction
// (no `tools`, or the extraction prompt) gets `{"memories": []}` at once and is counted apart.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import type { FakeLlmReport, FakeLlmRequest, FakeLlmResponse } from "./fake-llm.ts";

const TOKENS = Number(process.env.FAKE_LLM_TOKENS ?? 40);
const RATE = Number(process.env.FAKE_LLM_RATE ?? 50);
const INTERVAL_MS = 1000 / RATE;
/** The memory extraction prompt's first line (src/agent/memory/extraction.ts); not imported, so this process stays small. */
const EXTRACTION_MARKER = "You extract long-term memories about the user.";

interface ChatRequest {
  model: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  messages: Array<{ role: string; content: unknown }>;
  tools?: unknown[];
}

/** Wall-clock milliseconds with sub-millisecond resolution; the client computes the same clock. */
const wallNow = () => performance.timeOrigin + performance.now();

const idPrefix = `chatcmpl-bench-${randomBytes(4).toString("hex")}`;
let completionIds = 0;

let counters = freshCounters();
/** Emission times of reply tokens since the last reset, in order. */
let emissions: number[] = [];
let cpuAtReset = process.cpuUsage();
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function freshCounters() {
  return {
    replyRequests: 0,
    repliesFinished: 0,
    /** The client went away before the last token (a cancelled or timed-out call). */
    repliesAborted: 0,
    replyTokens: 0,
    memoryRequests: 0,
    otherRequests: 0,
    /** Replies streaming right now. */
    inFlight: 0,
    maxInFlight: 0,
  };
}

const server = createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: String(error), type: "server_error" } }));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", 4096);
await once(server, "listening");
const { port } = server.address() as AddressInfo;

process.on("message", (message: FakeLlmRequest) => {
  const reply = (response: FakeLlmResponse) => process.send!(response);
  if (message.type === "reset") {
    counters = freshCounters();
    emissions = [];
    cpuAtReset = process.cpuUsage();
    loopDelay.reset();
    reply({ type: "reset", id: message.id });
  } else if (message.type === "clock") {
    reply({ type: "clock", id: message.id, now: wallNow() });
  } else if (message.type === "report") {
    reply({ type: "report", id: message.id, report: report(message.from, message.to) });
  }
});
// The parent is gone (or let go of us): nothing else will stop this process.
process.on("disconnect", () => process.exit(0));
process.send!({ type: "ready", baseUrl: `http://127.0.0.1:${port}/v1` } satisfies FakeLlmResponse);

function report(from?: number, to?: number): FakeLlmReport {
  const inWindow =
    from === undefined || to === undefined ? emissions.length : emissions.filter((t) => t >= from && t <= to).length;
  const cpu = process.cpuUsage(cpuAtReset);
  return {
    ...counters,
    tokensInWindow: inWindow,
    firstEmission: emissions[0],
    lastEmission: emissions.at(-1),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
  };
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
    counters.otherRequests++;
    req.resume();
    res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "not found" } }));
    return;
  }
  const arrived = wallNow();
  const body = JSON.parse(await readBody(req)) as ChatRequest;
  const id = `${idPrefix}-${++completionIds}`;
  const promptTokens = Math.ceil(JSON.stringify(body.messages).length / 4);
  const isExtraction =
    !body.tools?.length ||
    body.messages.some((m) => m.role === "system" && String(m.content).includes(EXTRACTION_MARKER));
  if (isExtraction) {
    counters.memoryRequests++;
    answerAtOnce(res, body, id, '{"memories": []}', promptTokens);
    return;
  }

  counters.replyRequests++;
  counters.inFlight++;
  counters.maxInFlight = Math.max(counters.maxInFlight, counters.inFlight);
  const sse = new SseWriter(res, id, body.model);
  let closed = false;
  res.on("close", () => (closed = true));
  try {
    if (body.stream === false) {
      // Not what the app does, but answer sensibly: the whole text after the stream's duration.
      await sleepUntil(arrived + TOKENS * INTERVAL_MS);
      const text = Array.from({ length: TOKENS }, (_, i) => token(i)).join("");
      answerAtOnce(res, body, id, text, promptTokens);
      counters.repliesFinished++;
      return;
    }
    sse.start();
    for (let i = 0; i < TOKENS; i++) {
      await sleepUntil(arrived + (i + 1) * INTERVAL_MS);
      if (closed || res.destroyed) {
        counters.repliesAborted++;
        return;
      }
      const emittedAt = wallNow();
      sse.delta({ content: token(i, emittedAt) });
      counters.replyTokens++;
      emissions.push(emittedAt);
    }
    sse.finish(body, promptTokens, TOKENS);
    counters.repliesFinished++;
  } finally {
    counters.inFlight--;
  }
}

/** `t<i>@<ms>.<µs> `: plain text, no JSON or markup, ending in a space so concatenated tokens split unambiguously. */
function token(index: number, emittedAt = wallNow()): string {
  return `t${index}@${emittedAt.toFixed(3)} `;
}

function sleepUntil(wallTime: number): Promise<void> {
  const delay = wallTime - wallNow();
  return delay > 0 ? new Promise((resolve) => setTimeout(resolve, delay)) : Promise.resolve();
}

function answerAtOnce(res: ServerResponse, body: ChatRequest, id: string, text: string, promptTokens: number): void {
  const completionTokens = Math.max(1, Math.ceil(text.length / 4));
  if (body.stream === false) {
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        id,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      }),
    );
    return;
  }
  const sse = new SseWriter(res, id, body.model);
  sse.start();
  sse.delta({ content: text });
  sse.finish(body, promptTokens, completionTokens);
}

/** `chat.completion.chunk` events of one completion. */
class SseWriter {
  constructor(
    private readonly res: ServerResponse,
    private readonly id: string,
    private readonly model: string,
  ) {}

  start(): void {
    this.res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    this.delta({ role: "assistant", content: "" });
  }

  delta(delta: object, finishReason: string | null = null): void {
    this.send({ choices: [{ index: 0, delta, finish_reason: finishReason }] });
  }

  finish(body: ChatRequest, promptTokens: number, completionTokens: number): void {
    this.delta({}, "stop");
    if (body.stream_options?.include_usage) {
      this.send({
        choices: [],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      });
    }
    this.res.end("data: [DONE]\n\n");
  }

  private send(fields: object): void {
    const chunk = {
      id: this.id,
      object: "chat.completion.chunk",
      created: Math.floor(Date.now() / 1000),
      model: this.model,
      ...fields,
    };
    this.res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
