// A local OpenAI-compatible server (POST /v1/chat/completions, streaming SSE), so tests exercise the real
// ChatOpenAI path without a network. The last user message steers it: "[fail]" answers HTTP 500 every time.
import { createServer, type IncomingMessage } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";

export interface FakeOpenAI {
  baseUrl: string;
  /** Every request body received, in order. */
  requests: Array<{
    model: string;
    stream?: boolean;
    stream_options?: { include_usage?: boolean };
    messages: Array<{ role: string; content: string }>;
  }>;
  close(): Promise<void>;
}

export const FAKE_REPLY_TOKENS = ["Hello", " from", " the", " fake", " OpenAI", " server", "."];
/** Reported in the final usage chunk when the client asks for it (`stream_options.include_usage`). */
export const FAKE_USAGE = { prompt_tokens: 42, completion_tokens: FAKE_REPLY_TOKENS.length };

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const requests: FakeOpenAI["requests"] = [];
  let completions = 0;
  const server = createServer(async (req, res) => {
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(await readBody(req));
    requests.push(body);
    const lastUser = [...body.messages].reverse().find((m: { role: string }) => m.role === "user");
    if (String(lastUser?.content).includes("[fail]")) {
      res.writeHead(500, { "content-type": "application/json" }).end('{"error":{"message":"boom","type":"server_error"}}');
      return;
    }
    // A unique id per completion: LangGraph's message reducer merges messages that share one.
    const id = `chatcmpl-${++completions}`;
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 0, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(chunk({ role: "assistant", content: "" }));
    for (const token of FAKE_REPLY_TOKENS) res.write(chunk({ content: token }));
    res.write(chunk({}, "stop"));
    if (body.stream_options?.include_usage) {
      const usage = { ...FAKE_USAGE, total_tokens: FAKE_USAGE.prompt_tokens + FAKE_USAGE.completion_tokens };
      res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 0, model: body.model, choices: [], usage })}\n\n`);
    }
    res.end("data: [DONE]\n\n");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
