// The agent's hooks, turned into metrics. The agent layer knows nothing of Prometheus: app.ts hands these
// objects to it (ResilientChatModel's ModelCallObserver, the graph's memory recall).
import { BREAKER_STATE_VALUE, type Metrics } from "./metrics.ts";

/**
 * A model's circuit, as the agent reports it and the `model_breaker_state` gauge encodes it. Declared here, the layer
 * both may import, so the agent's ModelCallObserver and these metrics cannot drift apart.
 */
export type BreakerState = keyof typeof BREAKER_STATE_VALUE;
/** How one attempt of a model call ended (the `outcome` label of the model call histogram). */
export type AttemptOutcome = "success" | "transient" | "provider" | "request" | "cancelled";

/**
 * A ModelCallObserver (src/agent/models/resilient-chat.ts). Model labels are the chain's configured names, so
 * they are bounded by configuration; tokens are counted per successful attempt, as the provider reported them.
 */
export function modelCallMetrics(metrics: Metrics, initialStates: Record<string, BreakerState> = {}) {
  for (const [model, state] of Object.entries(initialStates))
    metrics.breakerState.set({ model }, BREAKER_STATE_VALUE[state]);
  return {
    attemptFinished(event: {
      model: string;
      durationMs: number;
      outcome: AttemptOutcome;
      usage?: { inputTokens: number; outputTokens: number };
    }): void {
      metrics.modelCallDuration.observe({ model: event.model, outcome: event.outcome }, event.durationMs / 1000);
      if (event.usage) {
        metrics.modelTokens.inc({ model: event.model, direction: "input" }, event.usage.inputTokens);
        metrics.modelTokens.inc({ model: event.model, direction: "output" }, event.usage.outputTokens);
      }
    },
    retry(event: { model: string }): void {
      metrics.modelRetries.inc({ model: event.model });
    },
    fallback(event: { from: string; to: string }): void {
      metrics.modelFallbacks.inc({ from: event.from, to: event.to });
    },
    breakerStateChanged(event: { model: string; state: BreakerState }): void {
      metrics.breakerState.set({ model: event.model }, BREAKER_STATE_VALUE[event.state]);
    },
  };
}

/** Wraps the graph's memory recall (`MemoryRecall`) with a latency histogram. */
export function timedRecall(
  memory: { recall(userId: string, query: string): Promise<string[]> },
  metrics: Metrics,
): { recall(userId: string, query: string): Promise<string[]> } {
  return {
    async recall(userId, query) {
      const end = metrics.memoryRecallDuration.startTimer();
      try {
        return await memory.recall(userId, query);
      } finally {
        end();
      }
    },
  };
}
