// One model call that survives a flaky or dead provider: an ordered fallback chain tried per request (never a
// global switch), each model with its own retries and circuit breaker, streaming timeouts and one deadline.
//
// Semantics:
// - Candidates are tried in order. Each gets 1 + `maxRetries` attempts for retryable failures (429, 408, 5xx,
//   timeouts, network errors, a stream that breaks or ends without a finish_reason), with exponential backoff
//   and jitter, never shorter than a Retry-After of up to 10 s. Other failures (400, 401, 403, 404, a longer
//   Retry-After) are not retried on that model but do move on to the next one: a different provider or model
//   may still accept the request (another key, a larger context window).
// - A model's circuit opens after `failureThreshold` consecutive failures that blame the provider (retryable
//   ones and 401/403/404, not 400s), across all requests. While open, the model is skipped without a request;
//   after `cooldownMs` the next request probes it once (half-open) and others skip it until the probe ends.
// - Timeouts suit streaming: each attempt must produce its first chunk, and every next chunk, within
//   `attemptTimeoutMs`; a long stream that keeps flowing is never cut. `totalDeadlineMs` caps the whole call
//   (attempts, backoffs, fallbacks) and ends in ModelUnavailableError.
// - The caller's abort stops everything at once (in-flight request included) and throws an AbortError.
import type { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, AIMessageChunk, type BaseMessage } from "@langchain/core/messages";
import type { StructuredToolInterface } from "@langchain/core/tools";
import { BrokenCircuitError, CircuitState, TaskCancelledError } from "cockatiel";
import { EventEmitter, on } from "node:events";
import { performance } from "node:perf_hooks";
import {
  abortErrorFrom,
  AttemptFailure,
  classifyFailure,
  type FailedModel,
  ModelUnavailableError,
} from "./model-errors.ts";
import { breakerStateName, modelBreaker, modelRetry, totalDeadline, type ResiliencePolicy } from "./policies.ts";
import type { AttemptOutcome, BreakerState } from "../../observability/agent-metrics.ts";
import type { ChatStream, ModelCallEvent, ModelCallOptions, ModelUsage } from "./model-call.ts";
import { estimateUsage } from "../token-estimate.ts";

export interface ModelCandidate {
  /** Unique within a chain: names the model's breaker, metrics and the `model` of events. */
  name: string;
  model: BaseChatModel;
  /**
   * The provider ends every complete stream with a finish_reason (OpenAI-compatible servers do), so a stream
   * that ends without one was cut off and is retried. @default false
   */
  expectFinishReason?: boolean;
}

/** Hooks for metrics. They run synchronously; an exception in one is swallowed, never failing a call. */
export interface ModelCallObserver {
  attemptStarted?(event: { model: string; attempt: number }): void;
  /** `usage`: what an attempt the provider answered used (reported, else estimated); absent when it never answered. */
  attemptFinished?(event: {
    model: string;
    attempt: number;
    durationMs: number;
    outcome: AttemptOutcome;
    reason?: string;
    usage?: ModelUsage;
  }): void;
  retry?(event: { model: string; attempt: number; delayMs: number; reason: string }): void;
  /** Moving on from `from` (failed, or skipped with its circuit open) to `to`. */
  fallback?(event: { from: string; to: string; reason: string }): void;
  breakerStateChanged?(event: { model: string; state: BreakerState }): void;
}

interface Chain {
  candidate: ModelCandidate;
  breaker: ReturnType<typeof modelBreaker>;
  retry: ReturnType<typeof modelRetry>;
}

/** What one call has done so far. */
interface CallRecord {
  startedAt: number;
  attemptsSent: number;
  lastReason: string;
  failures: FailedModel[];
  onUsage?: (usage: ModelUsage) => void;
  callbacks?: BaseCallbackHandler[];
}

export class ResilientChatModel implements ChatStream {
  private readonly chain: Chain[];
  private readonly deadline;

  constructor(
    candidates: ModelCandidate[],
    private readonly policy: ResiliencePolicy,
    private readonly observer: ModelCallObserver = {},
  ) {
    if (candidates.length === 0) throw new Error("ResilientChatModel needs at least one model");
    const names = new Set(candidates.map((c) => c.name));
    if (names.size !== candidates.length) throw new Error("ResilientChatModel: model names must be unique");
    this.deadline = totalDeadline(policy);
    this.chain = candidates.map((candidate) => {
      const link = { candidate, breaker: modelBreaker(policy), retry: modelRetry(policy) };
      const model = candidate.name;
      link.breaker.onStateChange((state) =>
        this.notify("breakerStateChanged", { model, state: breakerStateName(state) }),
      );
      link.retry.onRetry((event) => {
        const reason = "error" in event && event.error instanceof AttemptFailure ? event.error.message : "failure";
        this.notify("retry", { model, attempt: event.attempt, delayMs: event.delay, reason });
      });
      return link;
    });
  }

  breakerStates(): Record<string, BreakerState> {
    return Object.fromEntries(
      this.chain.map(({ candidate, breaker }) => [candidate.name, breakerStateName(breaker.state)]),
    );
  }

  async *stream(
    messages: BaseMessage[],
    { tools = [], signal, onUsage, callbacks }: ModelCallOptions,
  ): AsyncGenerator<ModelCallEvent> {
    if (signal.aborted) throw abortErrorFrom(signal);
    // The policies run the call to completion on their own; events reach this generator through a buffer.
    const events = new EventEmitter();
    events.on("error", () => {}); // a consumer that left early must not turn a late failure into a crash
    const received = on(events, "event", { close: ["end"] });
    const consumerLeft = new AbortController();
    const record: CallRecord = {
      startedAt: performance.now(),
      attemptsSent: 0,
      lastReason: "",
      failures: [],
      onUsage,
      callbacks,
    };
    const emit = (event: ModelCallEvent) => events.emit("event", event);

    this.deadline
      .execute(
        ({ signal: callSignal }) => this.runChain(messages, tools, record, callSignal, emit),
        AbortSignal.any([signal, consumerLeft.signal]),
      )
      .then(
        () => events.emit("end"),
        (error: unknown) => events.emit("error", this.finalError(error, signal, record)),
      );
    try {
      for await (const [event] of received) yield event as ModelCallEvent;
    } finally {
      consumerLeft.abort();
    }
  }

  private async runChain(
    messages: BaseMessage[],
    tools: StructuredToolInterface[],
    record: CallRecord,
    signal: AbortSignal,
    emit: (event: ModelCallEvent) => void,
  ): Promise<void> {
    for (const [index, { candidate, breaker, retry }] of this.chain.entries()) {
      const failed: FailedModel = { model: candidate.name, attempts: 0, reason: "" };
      record.failures.push(failed); // filled in as attempts fail; reported only if the whole call fails
      try {
        // Another request is probing this model: waiting for its verdict could take a whole attempt timeout.
        if (breaker.state === CircuitState.HalfOpen) throw new BrokenCircuitError();
        const message = await retry.execute(
          ({ attempt }) =>
            breaker.execute(() => this.attempt(candidate, attempt + 1, messages, tools, record, failed, signal, emit)),
          signal,
        );
        emit({ type: "done", message, model: candidate.name });
        return;
      } catch (error) {
        if (signal.aborted) throw error;
        if (error instanceof BrokenCircuitError) {
          failed.reason = failed.attempts > 0 ? `${failed.reason}, then circuit open` : "circuit open";
        }
        record.lastReason = `${candidate.name} failed (${failed.reason})`;
        const next = this.chain[index + 1];
        if (next) this.notify("fallback", { from: candidate.name, to: next.candidate.name, reason: failed.reason });
      }
    }
    throw new ModelUnavailableError(record.failures);
  }

  /** One request to one model, streamed; throws an AttemptFailure for the policies to judge. */
  private async attempt(
    { name, model, expectFinishReason = false }: ModelCandidate,
    attempt: number,
    messages: BaseMessage[],
    tools: StructuredToolInterface[],
    record: CallRecord,
    failed: FailedModel,
    signal: AbortSignal,
    emit: (event: ModelCallEvent) => void,
  ): Promise<AIMessage> {
    if (signal.aborted) throw new AttemptFailure("cancelled", "cancelled");
    if (record.attemptsSent++ > 0) emit({ type: "attempt", model: name, attempt, reason: record.lastReason });
    failed.attempts++;
    this.notify("attemptStarted", { model: name, attempt });
    const started = performance.now();
    const ownAbort = new AbortController(); // closes the socket of a timed-out or failed stream
    const attemptSignal = AbortSignal.any([signal, ownAbort.signal]);
    // Time to first chunk and between chunks: one timer per attempt, pushed back by every chunk (a timer and an
    // abort signal per chunk cost more than the chunk itself under load). Each wait also ends at the caller's abort,
    // even when the model ignores its signal.
    const watchdog = idleWatchdog(this.policy.attemptTimeoutMs, () => ownAbort.abort());
    const stopped = new Promise<never>((_, reject) => {
      const stop = () => reject(abortErrorFrom(signal));
      if (signal.aborted) stop();
      else signal.addEventListener("abort", stop, { once: true });
    });
    stopped.catch(() => undefined);
    const waitFor = <T>(work: Promise<T>) => Promise.race([work, watchdog.expired, stopped]);
    let outcome: AttemptOutcome = "success";
    let whole: AIMessageChunk | undefined;
    const message = new ChunkAccumulator();
    try {
      // Re-bound on every candidate: each provider gets the tools in its own format.
      const runnable = tools.length > 0 && model.bindTools ? model.bindTools(tools) : model;
      const options = { signal: attemptSignal, ...(record.callbacks ? { callbacks: record.callbacks } : {}) };
      // The model's own generator, not `stream()`: that wraps it in a web ReadableStream, a few promises and
      // allocations more per token, with nothing gained here (the run's config reaches it either way).
      const iterator = runnable._streamIterator(messages, options);
      for (;;) {
        const next = await waitFor(iterator.next());
        watchdog.touch();
        if (next.done) break;
        whole = message.add(next.value);
        emit({ type: "chunk", chunk: next.value });
      }
      if (whole) whole = message.whole();
      if (!whole) throw new AttemptFailure("transient", "stream ended without a chunk");
      if (expectFinishReason && !whole.response_metadata?.finish_reason) {
        throw new AttemptFailure("transient", "stream ended without a finish_reason");
      }
      return toMessage(whole);
    } catch (error) {
      const waitableMs = this.policy.totalDeadlineMs - (performance.now() - record.startedAt);
      const failure = classifyFailure(error, { cancelled: signal.aborted, waitableMs });
      outcome = failure.kind;
      failed.reason = failure.message;
      record.lastReason = `${name} failed (${failure.message})`;
      throw failure;
    } finally {
      watchdog.stop();
      ownAbort.abort();
      const durationMs = performance.now() - started;
      // Once the provider streams, the request is paid for however it ends (cut, cancelled, timed out); an attempt
      // refused before its first chunk (HTTP 4xx/5xx, connection refused) cost nothing.
      const usage = whole ? usageOf(name, messages, message.whole()) : undefined;
      if (usage) this.report(record, usage);
      const details = { ...(outcome === "success" ? {} : { reason: failed.reason }), ...(usage ? { usage } : {}) };
      this.notify("attemptFinished", { model: name, attempt, durationMs, outcome, ...details });
    }
  }

  private report(record: CallRecord, usage: ModelUsage): void {
    try {
      record.onUsage?.(usage);
    } catch {
      // Metering is the caller's; it must never fail the call it meters.
    }
  }

  private finalError(error: unknown, signal: AbortSignal, record: CallRecord): unknown {
    if (signal.aborted) return abortErrorFrom(signal);
    if (error instanceof TaskCancelledError) {
      // A snapshot: the attempt cut short by the deadline is still unwinding in the background.
      const failures = record.failures.map((f) => ({ ...f, reason: f.reason || "no answer yet" }));
      return new ModelUnavailableError(failures, this.policy.totalDeadlineMs, { cause: error });
    }
    return error;
  }

  private notify<K extends keyof ModelCallObserver>(hook: K, event: Parameters<NonNullable<ModelCallObserver[K]>>[0]) {
    try {
      (this.observer[hook] as ((e: typeof event) => void) | undefined)?.(event);
    } catch {
      // Metrics must never fail a model call.
    }
  }
}

/**
 * The stream's chunks as one message. `AIMessageChunk.concat` builds a new chunk and merges every metadata field
 * for each token; a chunk with plain text only adds its text here, and the few others (the first, tool calls, usage,
 * the finish reason) are concatenated. Content that is not a string takes the plain path of concatenating all.
 */
class ChunkAccumulator {
  private merged: AIMessageChunk | undefined;
  private text = "";
  private plainText = true;

  /** Adds a chunk; returns the message so far without its latest text (call `whole` for it). */
  add(chunk: AIMessageChunk): AIMessageChunk {
    const isText = typeof chunk.content === "string";
    this.plainText &&= isText;
    if (isText) this.text += chunk.content as string;
    const special =
      !this.merged ||
      !isText ||
      (chunk.tool_call_chunks?.length ?? 0) > 0 ||
      chunk.usage_metadata !== undefined ||
      chunk.response_metadata?.finish_reason != null;
    if (special || !this.plainText) this.merged = this.merged ? this.merged.concat(chunk) : chunk;
    return this.merged!;
  }

  whole(): AIMessageChunk {
    const merged = this.merged!;
    if (!this.plainText || merged.content === this.text) return merged;
    return new AIMessageChunk({
      id: merged.id,
      content: this.text,
      additional_kwargs: merged.additional_kwargs,
      response_metadata: merged.response_metadata,
      tool_call_chunks: merged.tool_call_chunks,
      usage_metadata: merged.usage_metadata,
    });
  }
}

/**
 * A timer that rejects `expired` (a retryable AttemptFailure) when `touch` was not called for `ms`, then calls
 * `onExpired` (which closes the attempt's connection).
 */
function idleWatchdog(ms: number, onExpired: () => void) {
  let timer!: NodeJS.Timeout;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new AttemptFailure("transient", `no chunk for ${ms} ms`));
      onExpired();
    }, ms);
  });
  expired.catch(() => undefined); // observed through the races; a watchdog that fires after the end is ignored
  return { expired, touch: () => void timer.refresh(), stop: () => clearTimeout(timer) };
}

/** What the provider reported in its final chunk; an estimate when it reported nothing (or was cut off first). */
function usageOf(model: string, messages: BaseMessage[], whole: AIMessageChunk): ModelUsage {
  const reported = whole.usage_metadata;
  if (reported)
    return { model, inputTokens: reported.input_tokens, outputTokens: reported.output_tokens, estimated: false };
  // Tool calls are output too: their names and arguments count like text.
  const calls = (whole.tool_call_chunks ?? []).map((call) => `${call.name ?? ""}${call.args ?? ""}`).join("");
  return { model, ...estimateUsage(messages, whole.text + calls), estimated: true };
}

function toMessage(chunk: AIMessageChunk): AIMessage {
  return new AIMessage({
    id: chunk.id,
    name: chunk.name,
    content: chunk.content,
    additional_kwargs: chunk.additional_kwargs,
    response_metadata: chunk.response_metadata,
    tool_calls: chunk.tool_calls,
    invalid_tool_calls: chunk.invalid_tool_calls,
    usage_metadata: chunk.usage_metadata,
  });
}
