// --from-langfuse against a local fake of Langfuse's public API: every page of traces is read (not just the
// first 100), each gradable trace is scored, and the scores go back to their traces, upserted by id.
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadJudgeMetrics } from "./metrics.ts";
import { OfflineJudge } from "./offline-judge.ts";
import { judgeInputOfTrace, type LangfuseTrace, scoreLangfuseTraces, sinceDate } from "./langfuse.ts";
import { join } from "node:path";

interface PostedScore {
  id: string;
  traceId: string;
  name: string;
  value: number;
  dataType: string;
  comment: string;
}

/** 230 traces the way this app's runs look in Langfuse; every 10th has no reply yet (still running). */
const traces: LangfuseTrace[] = Array.from({ length: 230 }, (_, i) => ({
  id: `trace-${i}`,
  timestamp: new Date(Date.now() - i * 1000).toISOString(),
  input: { turns: [{ role: "user", content: `Tell me about volcano number ${i}` }], userId: "u" },
  output:
    i % 10 === 9
      ? null
      : {
          messages: [
            {
              lc: 1,
              type: "constructor",
              id: ["langchain_core", "messages", "HumanMessage"],
              kwargs: { content: `Tell me about volcano number ${i}` },
            },
            {
              lc: 1,
              type: "constructor",
              id: ["langchain_core", "messages", "AIMessage"],
              kwargs: { content: i === 3 ? "Hello from a broken model." : `Volcano number ${i} is a volcano.` },
            },
          ],
          memories: [],
        },
}));

let baseUrl: string;
const requests: Array<{ method: string; url: string; authorization?: string }> = [];
const scores: PostedScore[] = [];
const server = createServer(async (req, res) => {
  requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
  const url = new URL(req.url!, "http://x");
  if (req.method === "GET" && url.pathname === "/api/public/traces") {
    const page = Number(url.searchParams.get("page"));
    const limit = Number(url.searchParams.get("limit"));
    const data = traces.slice((page - 1) * limit, page * limit);
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        data,
        meta: { page, limit, totalItems: traces.length, totalPages: Math.ceil(traces.length / limit) },
      }),
    );
    return;
  }
  if (req.method === "POST" && url.pathname === "/api/public/scores") {
    let body = "";
    for await (const chunk of req) body += chunk;
    scores.push(JSON.parse(body) as PostedScore);
    res.writeHead(200, { "content-type": "application/json" }).end('{"id":"ok"}');
    return;
  }
  res.writeHead(404).end();
});
beforeAll(async () => {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const env = () => ({ LANGFUSE_PUBLIC_KEY: "pk-test", LANGFUSE_SECRET_KEY: "sk-test", LANGFUSE_BASE_URL: baseUrl });

describe("evals --from-langfuse", () => {
  it("reads every page, grades the traces with a reply, and writes each score back to its trace", async () => {
    const metrics = await loadJudgeMetrics(join(import.meta.dirname, "..", "metrics"));
    const report = await scoreLangfuseTraces(env(), {
      judge: new OfflineJudge(),
      metrics,
      concurrency: 4,
      retries: 0,
      since: "7d",
      maxTraces: 1000,
      pageSize: 50,
    });
    const pages = requests
      .filter((r) => r.method === "GET")
      .map((r) => new URL(r.url, "http://x").searchParams.get("page"));
    expect(pages).toEqual(["1", "2", "3", "4", "5"]);
    expect(
      requests.every((r) => r.authorization === `Basic ${Buffer.from("pk-test:sk-test").toString("base64")}`),
    ).toBe(true);
    expect(report.kind).toBe("langfuse");
    expect(report.cases).toHaveLength(207); // 230 less the 23 without a reply
    const perMetric = 6; // five judge metrics and the prompt-leak check
    expect(scores).toHaveLength(207 * perMetric);
    const broken = scores.filter((score) => score.traceId === "trace-3");
    expect(broken.find((score) => score.name === "eval.relevancy")).toMatchObject({
      id: "trace-3-eval.relevancy",
      value: 0,
      dataType: "NUMERIC",
    });
    expect(scores.find((score) => score.traceId === "trace-4" && score.name === "eval.relevancy")?.value).toBe(1);
    expect(report.metrics.relevancy!.failingCases).toEqual(["trace-3"]);
    expect(scores.some((score) => score.traceId === "trace-9")).toBe(false);
  });

  it("stops at --max-traces", async () => {
    requests.length = 0;
    scores.length = 0;
    const metrics = (await loadJudgeMetrics(join(import.meta.dirname, "..", "metrics"))).slice(0, 1);
    const report = await scoreLangfuseTraces(env(), {
      judge: new OfflineJudge(),
      metrics,
      concurrency: 2,
      retries: 0,
      since: "24h",
      maxTraces: 120,
      pageSize: 50,
    });
    expect(
      requests.filter((r) => r.method === "GET").map((r) => new URL(r.url, "http://x").searchParams.get("limit")),
    ).toEqual(["50", "50", "20"]);
    expect(report.cases).toHaveLength(108);
  });

  it("refuses to run without keys, and reads --since as a duration or a time", async () => {
    await expect(
      scoreLangfuseTraces(
        {},
        { judge: new OfflineJudge(), metrics: [], concurrency: 1, retries: 0, since: "1h", maxTraces: 1 },
      ),
    ).rejects.toThrow(/LANGFUSE_PUBLIC_KEY/);
    expect(sinceDate("2h", 10_000_000).getTime()).toBe(10_000_000 - 7_200_000);
    expect(sinceDate("2026-01-02T00:00:00Z").toISOString()).toBe("2026-01-02T00:00:00.000Z");
    expect(() => sinceDate("yesterday")).toThrow(/--since/);
  });

  it("reads plain { role, content } messages and string outputs too, and tool results as context", () => {
    const input = judgeInputOfTrace({
      id: "t",
      input: { messages: [{ role: "user", content: "What time is it?" }] },
      output: {
        messages: [
          { type: "tool", name: "current_time", content: "12:00 UTC" },
          { role: "assistant", content: "It is 12:00 UTC." },
        ],
      },
    });
    expect(input).toMatchObject({
      reply: "It is 12:00 UTC.",
      toolResults: [{ name: "current_time", result: "12:00 UTC" }],
    });
    expect(judgeInputOfTrace({ id: "s", input: "hi", output: "hello" })?.reply).toBe("hello");
  });
});
