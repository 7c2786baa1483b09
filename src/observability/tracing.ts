// Langfuse tracing of agent runs (stack notes Q8): LangChain callbacks → OpenTelemetry spans → Langfuse's OTLP
// endpoint. Off unless both keys are set, and then truly off: the Langfuse SDK, left to itself, warns and
// exports to its cloud without keys, and a failed flush there crashed the process.
import type { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import { CallbackHandler } from "@langfuse/langchain";
import { LangfuseSpanProcessor } from "@langfuse/otel";
import { getLangfuseTracerProvider, setLangfuseTracerProvider } from "@langfuse/tracing";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import type { AppConfig } from "../config/index.ts";
import type { Logger } from "./logger.ts";

export interface TracedRun {
  userId: string;
  /** The chat session: Langfuse groups the session's replies under it. */
  sessionId: string;
  /** The assistant reply this run produces. */
  messageId: string;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Pass to the run's config (`callbacks`); empty when tracing is off. */
  callbacksFor(run: TracedRun): BaseCallbackHandler[];
  /** Sends what is buffered. Never throws: an unreachable Langfuse is logged, not fatal. */
  flush(): Promise<void>;
  /** Flushes, then stops exporting. Never throws. */
  shutdown(): Promise<void>;
}

const disabled: Tracing = {
  enabled: false,
  callbacksFor: () => [],
  flush: async () => {},
  shutdown: async () => {},
};

export function createTracing(config: AppConfig["langfuse"], logger: Logger): Tracing {
  const { publicKey, secretKey, baseUrl } = config;
  if (!publicKey || !secretKey) return disabled;

  const provider = new NodeTracerProvider({
    spanProcessors: [new LangfuseSpanProcessor({ publicKey, secretKey, baseUrl })],
  });
  // Langfuse's own provider, not the global one: nothing else in the process gets traced or exported by it.
  setLangfuseTracerProvider(provider);
  // The one global piece: without a context manager OpenTelemetry drops the user and session ids that the
  // callback handler propagates from the run's root span to its children. False when one is already set.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const ownsContext = context.setGlobalContextManager(contextManager);
  let stopped = false;

  const guarded = (what: "flush" | "shutdown", action: () => Promise<void>) => async () => {
    try {
      await action();
    } catch (error) {
      logger.warn({ err: error, baseUrl }, `Langfuse ${what} failed; traces may be lost`);
    }
  };

  return {
    enabled: true,
    callbacksFor: ({ userId, sessionId, messageId }) => [
      new CallbackHandler({ userId, sessionId, traceMetadata: { messageId } }),
    ],
    flush: guarded("flush", () => (stopped ? Promise.resolve() : provider.forceFlush())),
    shutdown: guarded("shutdown", async () => {
      if (stopped) return;
      stopped = true;
      if (getLangfuseTracerProvider() === provider) setLangfuseTracerProvider(null);
      try {
        await provider.shutdown(); // flushes first
      } finally {
        if (ownsContext) context.disable();
        else contextManager.disable();
      }
    }),
  };
}
