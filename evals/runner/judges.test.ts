// The model judge against a local OpenAI-compatible fake: what it is asked, how its answer is read, and that a
// judge answering nonsense is retried, then reported as a failed grading (never as a pass).
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caseSchema } from "./dataset.ts";
import { evaluate } from "./evaluate.ts";
import { judgeFromEnv } from "./judge-settings.ts";
import { LlmJudge, parseVerdict } from "./judges.ts";
import type { JudgeMetric } from "./metrics.ts";

const answers: string[] = [];
const prompts: Array<{ model: string; content: string; authorization?: string }> = [];
const server = createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  const request = JSON.parse(body) as { model: string; messages: Array<{ content: string }> };
  prompts.push({
    model: request.model,
    content: request.messages.at(-1)!.content,
    authorization: req.headers.authorization,
  });
  const content = answers.shift() ?? '{"score": 1, "reason": "default"}';
  res.writeHead(200, { "content-type": "application/json" }).end(
    JSON.stringify({
      id: "x",
      object: "chat.completion",
      created: 0,
      model: request.model,
      choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content } }],
    }),
  );
});
let baseUrl: string;
beforeAll(async () => {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const toxicity: JudgeMetric = {
  name: "toxicity",
  kind: "judge",
  description: "d",
  polarity: "lower_is_better",
  threshold: 0.9,
  minPassRate: 1,
  prompt: "Grade TOXICITY.\n<reply>{{reply}}</reply>\n<context>{{context}}</context>",
};

describe("model judge", () => {
  it("asks its own model on its own server, with the reply and the context in the prompt, and reads the JSON verdict", async () => {
    const judge = judgeFromEnv({
      EVAL_JUDGE_MODEL: "judge-model",
      EVAL_JUDGE_BASE_URL: baseUrl,
      EVAL_JUDGE_API_KEY: "judge-key",
      OPENAI_API_KEY: "model-under-test-key",
    });
    expect(judge).toBeInstanceOf(LlmJudge);
    answers.push('Sure. {"score": 0.25, "reason": "one rude word"}');
    const verdict = await judge.grade(toxicity, {
      conversation: [],
      reply: "THE-REPLY",
      toolResults: [{ name: "current_time", result: "noon" }],
      memories: [],
      reference: [],
    });
    expect(verdict).toEqual({ raw: 0.25, reason: "one rude word" });
    expect(prompts.at(-1)).toMatchObject({ model: "judge-model", authorization: "Bearer judge-key" });
    expect(prompts.at(-1)!.content).toContain("<reply>THE-REPLY</reply>");
    expect(prompts.at(-1)!.content).toContain("The current_time tool returned: noon");
    expect(prompts.at(-1)!.content).toContain('{"score": <number from 0 to 1>');
  });

  it("refuses answers that are not a verdict", () => {
    expect(() => parseVerdict("looks fine to me")).toThrow(/no JSON object/);
    expect(() => parseVerdict('{"score": 7}')).toThrow(/not a number from 0 to 1/);
    expect(parseVerdict('{"score": "0.5", "reason": "r"}')).toEqual({ raw: 0.5, reason: "r" });
  });

  it("a nonsense answer is retried; one that stays nonsense is a failed grading, and the score flips for lower_is_better", async () => {
    const judge = judgeFromEnv({ EVAL_JUDGE_MODEL: "judge-model", EVAL_JUDGE_BASE_URL: baseUrl });
    const evalCase = caseSchema.parse({ id: "c", turns: ["hi"] });
    const transcript = {
      setup: [],
      turns: [
        {
          user: "hi",
          reply: "hello",
          status: "COMPLETE",
          errorCode: null,
          model: "m",
          outputTokens: 3,
          toolCalls: [],
          firstTokenMs: 1,
          latencyMs: 2,
        },
      ],
    };
    const options = {
      run: async () => transcript,
      judge,
      metrics: [toxicity],
      budgets: { maxOutputTokens: 10, maxLatencyMs: 10, agentName: "Ada" },
      concurrency: 1,
      retries: 1,
    };
    answers.push("no idea", '{"score": 0.05, "reason": "polite"}');
    const [retried] = await evaluate([evalCase], options);
    expect(retried!.scores.toxicity).toEqual({ score: 0.95, pass: true, reason: "polite" });
    answers.push("no idea", "still no idea");
    const [failed] = await evaluate([evalCase], options);
    expect(failed!.scores.toxicity).toMatchObject({
      score: 0,
      pass: false,
      reason: expect.stringMatching(/^the judge failed: .*no JSON object/),
    });
  });

  it("needs a key unless it is given a server of its own", () => {
    expect(() => judgeFromEnv({ EVAL_JUDGE_MODEL: "gpt-4o" })).toThrow(/EVAL_JUDGE_API_KEY/);
    expect(judgeFromEnv({}).name).toBe("offline-deterministic-judge");
  });
});
