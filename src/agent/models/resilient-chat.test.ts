// Real ChatOpenAI instances (built by createChatModel, as the app builds them) against a local fake provider
// whose failures are scripted per model.
import { HumanMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { FAKE_REPLY_TOKENS, FAKE_USAGE, startFakeOpenAI, type FakeOpenAI } from "../../../test/support/fake-openai.ts";
import { createChatModel, type ChatModelSettings } from "./chat-model.ts";
import { DEV_MODEL_NAME } from "./dev-chat-model.ts";
import type { ResiliencePolicy } from "./policies.ts";
import type { ModelCallEvent } from "./model-call.ts";
import { ModelUnavailableError } from "./model-errors.ts";
import { ResilientChatModel, type ModelCallObserver } from "./resilient-chat.ts";

const REPLY = FAKE_REPLY_TOKENS.join("");
const BASE_POLICY: ResiliencePolicy = {
  attemptTimeoutMs: 5_000,
  totalDeadlineMs: 20_000,
  maxRetries: 2,
  breaker: { failureThreshold: 100, cooldownMs: 60_000 },
  backoff: { initialDelayMs: 10, maxDelayMs: 50 },
};

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(async () => {
  await fake?.close();
});

let modelCount = 0;
/** A fresh model name per test, so plans and request counts never leak between tests. */
const uniqueModel = (label: string) => `${label}-${++modelCount}`;

function settings(primary: string, fallbacks: string[] = []): ChatModelSettings {
  return {
    apiKey: "sk-test",
    baseUrl: fake.baseUrl,
    model: primary,
    fallbacks: fallbacks.map((model) => ({ model, baseUrl: undefined, apiKey: "sk-test" })),
    maxOutputTokens: 256,
    timeoutMs: BASE_POLICY.attemptTimeoutMs,
    devModelTokenDelayMs: 0,
    totalDeadlineMs: BASE_POLICY.totalDeadlineMs,
    maxRetries: BASE_POLICY.maxRetries,
    breaker: BASE_POLICY.breaker,
  };
}

function chat(models: string[], policy: Partial<ResiliencePolicy> = {}, observer?: ModelCallObserver) {
  const [primary, ...fallbacks] = models;
  return new ResilientChatModel(
    createChatModel(settings(primary!, fallbacks)),
    { ...BASE_POLICY, ...policy },
    observer,
  );
}

async function call(
  model: ResilientChatModel,
  options: { signal?: AbortSignal; tools?: Parameters<ResilientChatModel["stream"]>[1]["tools"] } = {},
) {
  const events: ModelCallEvent[] = [];
  const started = performance.now();
  try {
    for await (const event of model.stream([new HumanMessage("hi")], {
      signal: options.signal ?? new AbortController().signal,
      tools: options.tools,
    })) {
      events.push(event);
    }
    return { events, error: undefined, ms: performance.now() - started };
  } catch (error) {
    return { events, error: error as Error, ms: performance.now() - started };
  }
}

const requestsTo = (model: string) => fake.requests.filter((request) => request.model === model);
const kinds = (events: ModelCallEvent[]) =>
  events.map((event) => event.type).filter((type, i, all) => type !== "chunk" || all[i - 1] !== "chunk");
const textOf = (events: ModelCallEvent[]) => events.flatMap((e) => (e.type === "chunk" ? [e.chunk.text] : [])).join("");
const done = (events: ModelCallEvent[]) => events.find((e) => e.type === "done");

const add = tool(async ({ a, b }) => String(a + b), {
  name: "add",
  description: "Adds two numbers.",
  schema: z.object({ a: z.number(), b: z.number() }),
});

describe("retries", () => {
  it("retries after a 500 and streams the reply of the second attempt", async () => {
    const model = uniqueModel("retry-500");
    fake.plan(model, [{ kind: "status", status: 500 }]);
    const { events, error } = await call(chat([model]));
    expect(error).toBeUndefined();
    expect(kinds(events)).toEqual(["attempt", "chunk", "done"]);
    expect(events[0]).toEqual({ type: "attempt", model, attempt: 2, reason: `${model} failed (HTTP 500)` });
    expect(textOf(events)).toBe(REPLY);
    const message = done(events);
    expect(message).toMatchObject({ model, message: { content: REPLY } });
    expect(message?.type === "done" && message.message.usage_metadata).toMatchObject({
      input_tokens: FAKE_USAGE.prompt_tokens,
    });
    expect(requestsTo(model)).toHaveLength(2);
  });

  it("waits out a short Retry-After on 429 before retrying", async () => {
    const model = uniqueModel("retry-429");
    fake.plan(model, [{ kind: "status", status: 429, retryAfterSeconds: 1 }]);
    const { events, error, ms } = await call(chat([model]));
    expect(error).toBeUndefined();
    expect(textOf(events)).toBe(REPLY);
    expect(requestsTo(model)).toHaveLength(2);
    expect(ms).toBeGreaterThanOrEqual(950); // the backoff alone is at most 50 ms
  });

  it("does not wait for a long Retry-After: the next model answers instead", async () => {
    const [primary, backup] = [uniqueModel("long-429"), uniqueModel("long-429-backup")];
    fake.plan(primary, [{ kind: "status", status: 429, retryAfterSeconds: 120 }]);
    const { events, error, ms } = await call(chat([primary, backup]));
    expect(error).toBeUndefined();
    expect(done(events)).toMatchObject({ model: backup });
    expect(requestsTo(primary)).toHaveLength(1);
    expect(ms).toBeLessThan(10_000);
  });

  it.each([400, 401, 403, 404])("never retries HTTP %i", async (status) => {
    const model = uniqueModel(`no-retry-${status}`);
    fake.plan(model, [{ kind: "status", status }]);
    const { events, error } = await call(chat([model]));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect((error as ModelUnavailableError).failures).toEqual([{ model, attempts: 1, reason: `HTTP ${status}` }]);
    expect(events).toEqual([]);
    expect(requestsTo(model)).toHaveLength(1);
  });
});

describe("fallbacks", () => {
  it("falls back to the next model after the primary keeps failing, with the tools bound there too", async () => {
    const [primary, backup] = [uniqueModel("primary"), uniqueModel("backup")];
    fake.plan(primary, Array(3).fill({ kind: "status", status: 503 }));
    fake.plan(backup, [{ kind: "toolCall", calls: [{ name: "add", args: { a: 2, b: 3 } }] }]);
    const seen: string[] = [];
    const observer: ModelCallObserver = {
      retry: ({ model, attempt }) => seen.push(`retry ${model} ${attempt}`),
      fallback: ({ from, to }) => seen.push(`fallback ${from} → ${to}`),
      attemptFinished: ({ model, outcome }) => seen.push(`${outcome} ${model}`),
    };
    const { events, error } = await call(chat([primary, backup], {}, observer), { tools: [add] });
    expect(error).toBeUndefined();
    expect(requestsTo(primary)).toHaveLength(3);
    expect(requestsTo(backup)).toHaveLength(1);
    expect(requestsTo(backup)[0]!.tools?.map((t) => t.function.name)).toEqual(["add"]);
    expect(requestsTo(primary)[0]!.tools?.map((t) => t.function.name)).toEqual(["add"]);
    expect(events.filter((e) => e.type === "attempt")).toEqual([
      { type: "attempt", model: primary, attempt: 2, reason: `${primary} failed (HTTP 503)` },
      { type: "attempt", model: primary, attempt: 3, reason: `${primary} failed (HTTP 503)` },
      { type: "attempt", model: backup, attempt: 1, reason: `${primary} failed (HTTP 503)` },
    ]);
    const final = done(events);
    expect(final?.type === "done" && final.model).toBe(backup);
    expect(final?.type === "done" && final.message.tool_calls).toMatchObject([{ name: "add", args: { a: 2, b: 3 } }]);
    expect(seen).toEqual([
      `transient ${primary}`,
      `retry ${primary} 1`,
      `transient ${primary}`,
      `retry ${primary} 2`,
      `transient ${primary}`,
      `fallback ${primary} → ${backup}`,
      `success ${backup}`,
    ]);
  });

  it("reports every model it tried when all of them fail", async () => {
    const [primary, backup] = [uniqueModel("all-fail"), uniqueModel("all-fail-backup")];
    fake.plan(primary, Array(3).fill({ kind: "status", status: 500 }));
    fake.plan(backup, [{ kind: "status", status: 401 }]);
    const { error } = await call(chat([primary, backup]));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect((error as ModelUnavailableError).failures).toEqual([
      { model: primary, attempts: 3, reason: "HTTP 500" },
      { model: backup, attempts: 1, reason: "HTTP 401" },
    ]);
    expect(error!.message).toContain(primary);
  });
});

describe("circuit breaker", () => {
  it("opens after N failures, skips the model without a request, then probes it after the cooldown", async () => {
    const [primary, backup] = [uniqueModel("breaker"), uniqueModel("breaker-backup")];
    const states: string[] = [];
    const resilient = chat(
      [primary, backup],
      { maxRetries: 0, breaker: { failureThreshold: 2, cooldownMs: 300 } },
      {
        breakerStateChanged: ({ model, state }) => model === primary && states.push(state),
      },
    );
    fake.plan(primary, [
      { kind: "status", status: 500 },
      { kind: "status", status: 500 },
    ]);

    for (let i = 0; i < 2; i++) expect(done((await call(resilient)).events)).toMatchObject({ model: backup });
    expect(requestsTo(primary)).toHaveLength(2);
    expect(resilient.breakerStates()).toEqual({ [primary]: "open", [backup]: "closed" });

    const skipped = await call(resilient);
    expect(done(skipped.events)).toMatchObject({ model: backup });
    expect(skipped.events.some((e) => e.type === "attempt")).toBe(false); // the backup's was the first request
    expect(requestsTo(primary)).toHaveLength(2);

    await sleep(400);
    const probed = await call(resilient);
    expect(done(probed.events)).toMatchObject({ model: primary });
    expect(requestsTo(primary)).toHaveLength(3);
    expect(resilient.breakerStates()[primary]).toBe("closed");
    expect(states).toEqual(["open", "half-open", "closed"]);
  });

  it("lets one request probe a half-open model while the others skip it", async () => {
    const [primary, backup] = [uniqueModel("probe"), uniqueModel("probe-backup")];
    const resilient = chat([primary, backup], {
      maxRetries: 0,
      attemptTimeoutMs: 1_000,
      breaker: { failureThreshold: 1, cooldownMs: 200 },
    });
    fake.plan(primary, [{ kind: "status", status: 500 }, { kind: "hang" }]);
    await call(resilient);
    await sleep(300);

    const probe = call(resilient); // hangs on the primary until its attempt times out
    await sleep(100);
    expect(resilient.breakerStates()[primary]).toBe("half-open");
    const other = await call(resilient);
    expect(done(other.events)).toMatchObject({ model: backup });
    expect(other.ms).toBeLessThan(500); // did not wait for the probe's verdict
    expect(done((await probe).events)).toMatchObject({ model: backup });
    expect(requestsTo(primary)).toHaveLength(2);
    expect(resilient.breakerStates()[primary]).toBe("open");
  });

  it("fails at once when every model's circuit is open", async () => {
    const model = uniqueModel("all-open");
    const resilient = chat([model], { maxRetries: 0, breaker: { failureThreshold: 1, cooldownMs: 60_000 } });
    fake.plan(model, [{ kind: "status", status: 500 }]);
    await call(resilient);
    const { error } = await call(resilient);
    expect((error as ModelUnavailableError).failures).toEqual([{ model, attempts: 0, reason: "circuit open" }]);
    expect(requestsTo(model)).toHaveLength(1);
  });
});

describe("timeouts and broken streams", () => {
  it("gives up on an attempt that sends nothing for attemptTimeoutMs, and retries", async () => {
    const model = uniqueModel("hang");
    fake.plan(model, [{ kind: "hang" }]);
    const { events, error } = await call(chat([model], { attemptTimeoutMs: 300 }));
    expect(error).toBeUndefined();
    expect(events[0]).toEqual({ type: "attempt", model, attempt: 2, reason: `${model} failed (no chunk for 300 ms)` });
    expect(textOf(events)).toBe(REPLY);
    expect(requestsTo(model)).toHaveLength(2);
  });

  it("never cuts a long stream that keeps flowing", async () => {
    const model = uniqueModel("slow-stream");
    fake.plan(model, [{ kind: "reply", tokenDelayMs: 100 }]); // 7 tokens ≈ 700 ms in all, 100 ms apart
    const { events, error } = await call(chat([model], { attemptTimeoutMs: 400 }));
    expect(error).toBeUndefined();
    expect(kinds(events)).toEqual(["chunk", "done"]);
    expect(requestsTo(model)).toHaveLength(1);
  });

  it.each([
    ["a destroyed socket", false, "network error: terminated"],
    ["a clean end without finish_reason", true, "stream ended without a finish_reason"],
  ])(
    "retries a stream broken by %s, after an attempt event that voids its partial text",
    async (_, graceful, reason) => {
      const model = uniqueModel("cut");
      fake.plan(model, [{ kind: "cut", afterTokens: 3, graceful }]);
      const { events, error } = await call(chat([model]));
      expect(error).toBeUndefined();
      expect(kinds(events)).toEqual(["chunk", "attempt", "chunk", "done"]);
      const restart = events.findIndex((e) => e.type === "attempt");
      expect(textOf(events.slice(0, restart))).toBe(FAKE_REPLY_TOKENS.slice(0, 3).join(""));
      expect(events[restart]).toEqual({ type: "attempt", model, attempt: 2, reason: `${model} failed (${reason})` });
      expect(textOf(events.slice(restart))).toBe(REPLY);
      expect(done(events)).toMatchObject({ message: { content: REPLY } });
    },
  );

  it("ends in ModelUnavailableError at the total deadline", async () => {
    const model = uniqueModel("deadline");
    fake.plan(model, [{ kind: "hang" }]);
    const { error, ms } = await call(chat([model], { attemptTimeoutMs: 10_000, totalDeadlineMs: 800 }));
    expect(error).toBeInstanceOf(ModelUnavailableError);
    expect(error).toMatchObject({ deadlineExceededMs: 800, failures: [{ model, attempts: 1 }] });
    expect(ms).toBeGreaterThanOrEqual(750);
    expect(ms).toBeLessThan(3_000);
  });
});

describe("caller abort", () => {
  it("stops a hanging request at once with an AbortError", async () => {
    const model = uniqueModel("abort-hang");
    fake.plan(model, [{ kind: "hang" }]);
    const { error, ms } = await call(chat([model]), { signal: AbortSignal.timeout(200) });
    expect(error?.name).toBe("AbortError");
    expect(error).not.toBeInstanceOf(ModelUnavailableError);
    expect(ms).toBeLessThan(2_000);
    await sleep(300);
    expect(requestsTo(model)).toHaveLength(1); // no retry after the abort
  });

  it("stops mid-stream and during a backoff", async () => {
    const streaming = uniqueModel("abort-stream");
    fake.plan(streaming, [{ kind: "reply", tokenDelayMs: 100 }]);
    const midStream = await call(chat([streaming]), { signal: AbortSignal.timeout(250) });
    expect(midStream.error?.name).toBe("AbortError");
    expect(textOf(midStream.events).length).toBeLessThan(REPLY.length);

    const backingOff = uniqueModel("abort-backoff");
    fake.plan(backingOff, [{ kind: "status", status: 500 }]);
    const slowBackoff = { backoff: { initialDelayMs: 10_000, maxDelayMs: 10_000 } };
    const duringBackoff = await call(chat([backingOff], slowBackoff), { signal: AbortSignal.timeout(200) });
    expect(duringBackoff.error?.name).toBe("AbortError");
    expect(duringBackoff.ms).toBeLessThan(2_000);
    expect(requestsTo(backingOff)).toHaveLength(1);
  });
});

it("streams the offline dev model through the same chain when no API key is set", async () => {
  const candidates = createChatModel({ ...settings("unused"), apiKey: undefined });
  expect(candidates.map((c) => c.name)).toEqual([DEV_MODEL_NAME]);
  const { events, error } = await call(new ResilientChatModel(candidates, BASE_POLICY), { tools: [add] });
  expect(error).toBeUndefined();
  expect(kinds(events)).toEqual(["chunk", "done"]);
  expect(textOf(events)).toContain("offline dev model");
});
