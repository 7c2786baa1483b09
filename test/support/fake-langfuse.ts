// A local stand-in for Langfuse's HTTP API: records every request (OTLP spans at /api/public/otel/v1/traces, scores
// at /api/public/scores) and answers 200, or `status` when a test makes it fail.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

/** One span as the OTLP/HTTP JSON exporter sends it (ids in hex), attributes flattened to strings. */
export interface ExportedSpan {
  traceId: string;
  spanId: string;
  /** Absent (or empty) for a root span. */
  parentSpanId?: string;
  name: string;
  attributes: Record<string, string>;
}

export interface FakeLangfuse {
  baseUrl: string;
  received: ReceivedRequest[];
  /** The answer to every request from now on (200 unless a test wants Langfuse failing). */
  status: number;
  /** Every span received so far, from all OTLP bodies. */
  spans(): ExportedSpan[];
  /** The JSON bodies posted to /api/public/scores, in order. */
  scores(): Array<Record<string, unknown>>;
  /** Resolves once `predicate` holds for what was received (checked on every request), or rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const OTLP_TRACES_PATH = "/api/public/otel/v1/traces";
export const SCORES_PATH = "/api/public/scores";

export async function startFakeLangfuse(): Promise<FakeLangfuse> {
  const received: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();
  let server: Server;
  const fake: FakeLangfuse = {
    baseUrl: "",
    received,
    status: 200,
    spans: () => received.filter((r) => r.url === OTLP_TRACES_PATH).flatMap((r) => parseOtlpJson(r)),
    scores: () => received.filter((r) => r.method === "POST" && r.url === SCORES_PATH).map((r) => JSON.parse(r.body)),
    waitFor: (predicate, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        if (predicate()) return resolve();
        const check = () => {
          if (!predicate()) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake Langfuse: not received within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    received.push({
      method: req.method!,
      url: req.url!,
      authorization: req.headers.authorization,
      contentType: req.headers["content-type"],
      body: Buffer.concat(chunks).toString("utf8"),
    });
    res.writeHead(fake.status, { "content-type": "application/json" }).end("{}");
    for (const check of [...waiters]) check();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  fake.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
}

/** Spans of one OTLP/HTTP JSON body (`resourceSpans[].scopeSpans[].spans[]`); a protobuf body is refused loudly. */
function parseOtlpJson(request: ReceivedRequest): ExportedSpan[] {
  if (!request.contentType?.includes("json")) throw new Error(`expected OTLP JSON, got ${request.contentType}`);
  const body = JSON.parse(request.body) as {
    resourceSpans: Array<{
      scopeSpans: Array<{ spans: Array<Omit<ExportedSpan, "attributes"> & { attributes?: OtlpAttribute[] }> }>;
    }>;
  };
  return body.resourceSpans.flatMap((resource) =>
    resource.scopeSpans.flatMap((scope) =>
      scope.spans.map((span) => ({
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId,
        name: span.name,
        attributes: Object.fromEntries(
          (span.attributes ?? []).map(({ key, value }) => [
            key,
            String(value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue),
          ]),
        ),
      })),
    ),
  );
}
