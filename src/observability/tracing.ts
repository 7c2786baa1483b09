// Langfuse tracing of agent runs (stack notes Q8): LangChain callbacks → OpenTelemetry spans → Langfuse's OTLP
// endpoint. Off unless both keys are set, and then truly off: the Langfuse SDK, left to itself, warns and
// exports to its cloud without keys, and a failed flush there crashed the process.
// The Langfuse and OpenTelemetry packages are loaded only when tracing is on: tens of MB an instance without keys
// never needs.
import type { BaseCallbackHandler } from "@langchain/core/callbacks/base";
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

export async function createTracing(config: AppConfig["langfuse"], logger: Logger): Promise<Tracing> {
  const { publicKey, secretKey, baseUrl } = config;
  if (!publicKey || !secretKey) return disabled;
  const [{ CallbackHandler }, { LangfuseSpanProcessor }, { getLangfuseTracerProvider, setLangfuseTracerProvider }, { context }, { AsyncLocalStorageContextManager }, { NodeTracerProvider }] =
    await Promise.all([
      import("@langfuse/langchain"),
      import("@langfuse/otel"),
      import("@langfuse/tracing"),
      import("@opentelemetry/api"),
      import("@opentelemetry/context-async-hooks"),
      import("@opentelemetry/sdk-trace-node"),
    ]);

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
