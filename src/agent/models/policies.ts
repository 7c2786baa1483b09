// The cockatiel policies behind ResilientChatModel: per-model retry and circuit breaker, and the timeouts.
import {
  CircuitState,
  ConsecutiveBreaker,
  DelegateBackoff,
  ExponentialBackoff,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  retry,
  timeout,
  type IBackoff,
  type IRetryBackoffContext,
} from "cockatiel";
import type { BreakerState } from "../../observability/agent-metrics.ts";
import { AttemptFailure } from "./model-errors.ts";

export interface ResiliencePolicy {
  /** Longest wait for the first chunk, and between two chunks, of one attempt (not a cap on a healthy stream). */
  attemptTimeoutMs: number;
  /** Caps one call as a whole: every attempt, backoff and fallback. */
  totalDeadlineMs: number;
  /** Extra attempts per model after a retryable failure. */
  maxRetries: number;
  /** Consecutive failures that open a model's circuit, and how long it stays open before one probe. */
  breaker: { failureThreshold: number; cooldownMs: number };
  /** Exponential backoff with decorrelated jitter between retries. @default { initialDelayMs: 250, maxDelayMs: 4000 } */
  backoff?: { initialDelayMs: number; maxDelayMs: number };
}

export function breakerStateName(state: CircuitState): BreakerState {
  if (state === CircuitState.Closed) return "closed";
  return state === CircuitState.HalfOpen ? "half-open" : "open";
}

/** Shared by every call to one model, so failures of all requests add up to open it. */
export function modelBreaker({ breaker }: ResiliencePolicy) {
  return circuitBreaker(
    handleWhen((error) => error instanceof AttemptFailure && error.countsAgainstModel),
    { halfOpenAfter: breaker.cooldownMs, breaker: new ConsecutiveBreaker(breaker.failureThreshold) },
  );
}

/** Retries transient failures only; waits at least as long as a (small enough) Retry-After asks. */
export function modelRetry({ maxRetries, backoff = { initialDelayMs: 250, maxDelayMs: 4000 } }: ResiliencePolicy) {
  const exponential = new ExponentialBackoff({ initialDelay: backoff.initialDelayMs, maxDelay: backoff.maxDelayMs });
  type State = IBackoff<unknown> | undefined;
  const withRetryAfter = new DelegateBackoff<IRetryBackoffContext<unknown>, State>((context, previous) => {
    const next = previous ? previous.next(context) : exponential.next();
    const failure = "error" in context.result ? context.result.error : undefined;
    const retryAfterMs = failure instanceof AttemptFailure ? (failure.retryAfterMs ?? 0) : 0;
    return { delay: Math.max(next.duration, retryAfterMs), state: next };
  });
  return retry(
    handleWhen((error) => error instanceof AttemptFailure && error.retryable),
    {
      maxAttempts: maxRetries,
      backoff: withRetryAfter,
    },
  );
}

/**
 * Aggressive: the wait is abandoned the moment the time is up or the parent signal fires, whether or not the
 * wrapped promise ever settles (a hung socket never does by itself).
 */
export function totalDeadline({ totalDeadlineMs }: ResiliencePolicy) {
  return timeout(totalDeadlineMs, TimeoutStrategy.Aggressive);
}
