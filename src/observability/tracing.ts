// Langfuse tracing of agent runs (stack notes Q8): LangChain callbacks → OpenTelemetry spans → Langfuse's OTLP
// endpoint. Off unless both keys are set, and then truly off: the Langfuse SDK, left to itself, warns and
// exports to its cloud without keys, and a failed flush there crashed the process.
// The Langfuse and OpenTelemetry packages are loaded only when tracing is on: tens of MB an instance without keys
// never needs.
// A reply's trace id is not random: it is `replyTraceId(messageId)`, so a rating that comes much later (rateMessage)
// can be posted as a Langfuse score on that trace knowing only the message id.
import { createHash } from "node:crypto";
import type { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { AppConfig } from "../config/index.ts";
import type { Logger } from "./logger.ts";

export interface TracedRun {
  userId: string;
  /** The chat session: Langfuse groups the session's replies under it. */
  sessionId: string;
  /** The assistant reply this run produces (memory extraction: the reply it followed). */
  messageId: string;
  /**
   * The run that writes the reply: its trace gets the id `replyTraceId(messageId)`, so the reply can be scored
   * later. Only one run per reply may say so (a second root in the same trace would overwrite the trace's name and
   * input); other runs (memory extraction) get random trace ids.
   */
  isReply?: boolean;
}

/** A user's rating of a reply, sent to Langfuse as the score `user-feedback` on the reply's trace. */
export interface ReplyFeedback {
  messageId: string;
  rating: "UP" | "DOWN";
  comment: string | null;
}

/** The score's name in Langfuse: 1 for UP, 0 for DOWN (its mean is the share of replies rated up). */
const FEEDBACK_SCORE_NAME = "user-feedback";
/** A score post that has not been answered in this time is given up (and logged). */
const SCORE_TIMEOUT_MS = 10_000;
const DEFAULT_LANGFUSE_URL = "https://cloud.langfuse.com";

/**
 * The trace id of the run that wrote a reply: Langfuse's `createTraceId(messageId)` (@langfuse/tracing), i.e. the
 * first 32 hex digits of SHA-256 of the message id, computed here without loading Langfuse.
 */
export function replyTraceId(messageId: string): string {
  return createHash("sha256").update(messageId, "utf8").digest("hex").slice(0, 32);
}

/** Langfuse's public API (scores, traces): where it is and how to authenticate (HTTP basic, the key pair). */
export function langfuseEndpoint({
  publicKey,
  secretKey,
  baseUrl,
}: {
  publicKey: string;
  secretKey: string;
  baseUrl: string | undefined;
}) {
  const base = (baseUrl ?? DEFAULT_LANGFUSE_URL).replace(/\/+$/, "");
  return {
    url: (path: string) => `${base}${path}`,
    authorization: `Basic ${Buffer.from(`${publicKey}:${secretKey}`).toString("base64")}`,
  };
}

export interface Tracing {
  readonly enabled: boolean;
  /** Pass to the run's config (`callbacks`); empty when tracing is off. */
  callbacksFor(run: TracedRun): BaseCallbackHandler[];
  /**
   * Posts the rating as the score `user-feedback` on the reply's trace (`replyTraceId`), with an id of its own
   * derived from the message id, so rating again replaces the score (Langfuse upserts scores by id). Returns at
   * once. One post at a time per reply, and only its latest rating waits (the last rating is the one Langfuse
   * keeps, and re-rating fast sends no more than Langfuse answers); a failure is logged, never thrown. Nothing when
   * tracing is off.
   */
  scoreReply(feedback: ReplyFeedback): void;
  /** Sends what is buffered (spans and scores). Never throws: an unreachable Langfuse is logged, not fatal. */
  flush(): Promise<void>;
  /** Flushes, then stops exporting. Never throws. */
  shutdown(): Promise<void>;
}

const disabled: Tracing = {
  enabled: false,
  callbacksFor: () => [],
  scoreReply: () => {},
  flush: async () => {},
  shutdown: async () => {},
};

export async function createTracing(config: AppConfig["langfuse"], logger: Logger): Promise<Tracing> {
  const { publicKey, secretKey, baseUrl } = config;
  if (!publicKey || !secretKey) return disabled;
  const [
    { CallbackHandler },
    { LangfuseSpanProcessor },
    { getLangfuseTracerProvider, setLangfuseTracerProvider },
    { context, createContextKey, trace },
    { AsyncLocalStorageContextManager },
    { NodeTracerProvider, RandomIdGenerator },
  ] = await Promise.all([
    import("@langfuse/langchain"),
    import("@langfuse/otel"),
    import("@langfuse/tracing"),
    import("@opentelemetry/api"),
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/sdk-trace-node"),
  ]);

  // A root span started while the context holds a trace id under this key gets that trace id: a genuine root (no
  // parent), which Langfuse takes for the trace's root. A made-up remote parent span would also carry the id, but
  // Langfuse would then see no root at all (its ingestion treats a span with a parent id as a child).
  const seededTraceId = createContextKey("agent-api.seeded-trace-id");
  const randomIds = new RandomIdGenerator();
  const provider = new NodeTracerProvider({
    spanProcessors: [new LangfuseSpanProcessor({ publicKey, secretKey, baseUrl })],
    idGenerator: {
      generateTraceId: () => {
        const seeded = context.active().getValue(seededTraceId);
        return typeof seeded === "string" ? seeded : randomIds.generateTraceId();
      },
      generateSpanId: () => randomIds.generateSpanId(),
    },
  });
  // Langfuse's own provider, not the global one: nothing else in the process gets traced or exported by it.
  setLangfuseTracerProvider(provider);
  // The one global piece: without a context manager OpenTelemetry drops the user and session ids that the
  // callback handler propagates from the run's root span to its children. False when one is already set.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const ownsContext = context.setGlobalContextManager(contextManager);
  let stopped = false;

  /**
   * Langfuse's handler, whose root run (the one without a parent run) starts its span under the seeded trace id.
   * LangChain calls handlers from a background queue, whose context belongs to whichever run woke it; so the
   * context is set here, around the call that starts the span, and nothing depends on the caller's context.
   */
  class ReplyCallbackHandler extends CallbackHandler {
    constructor(
      params: ConstructorParameters<typeof CallbackHandler>[0],
      private readonly rootTraceId: string,
    ) {
      super(params);
    }

    private asRoot<T>(parentRunId: string | undefined, start: () => Promise<T>): Promise<T> {
      if (parentRunId) return start();
      return context.with(trace.deleteSpan(context.active()).setValue(seededTraceId, this.rootTraceId), start);
    }

    override handleChainStart(...args: Parameters<InstanceType<typeof CallbackHandler>["handleChainStart"]>) {
      return this.asRoot(args[3], () => super.handleChainStart(...args));
    }

    override handleChatModelStart(...args: Parameters<InstanceType<typeof CallbackHandler>["handleChatModelStart"]>) {
      return this.asRoot(args[3], () => super.handleChatModelStart(...args));
    }

    override handleLLMStart(...args: Parameters<InstanceType<typeof CallbackHandler>["handleLLMStart"]>) {
      return this.asRoot(args[3], () => super.handleLLMStart(...args));
    }

    override handleToolStart(...args: Parameters<InstanceType<typeof CallbackHandler>["handleToolStart"]>) {
      return this.asRoot(args[3], () => super.handleToolStart(...args));
    }
  }

  const { url, authorization } = langfuseEndpoint({ publicKey, secretKey, baseUrl });
  const scoresUrl = url("/api/public/scores");
  /** Per reply, the rating waiting to be posted (only the latest: ratings between two posts are never sent). */
  const unsent = new Map<string, ReplyFeedback>();
  /** Per reply, the loop posting its ratings one at a time, so the last rating is the one Langfuse keeps. */
  const posting = new Map<string, Promise<void>>();
  const postScore = async ({ messageId, rating, comment }: ReplyFeedback): Promise<void> => {
    const traceId = replyTraceId(messageId);
    try {
      const response = await fetch(scoresUrl, {
        method: "POST",
        headers: { authorization, "content-type": "application/json" },
        body: JSON.stringify({
          id: `${traceId}-${FEEDBACK_SCORE_NAME}`,
          traceId,
          name: FEEDBACK_SCORE_NAME,
          value: rating === "UP" ? 1 : 0,
          dataType: "NUMERIC",
          ...(comment !== null ? { comment } : {}),
          metadata: { messageId },
        }),
        signal: AbortSignal.timeout(SCORE_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`Langfuse answered HTTP ${response.status}`);
    } catch (error) {
      logger.warn(
        { err: error, baseUrl, messageId, traceId },
        "Langfuse score failed; the rating is stored, not scored",
      );
    }
  };
  const pendingScores = () => Promise.all(posting.values());

  const guarded = (what: "flush" | "shutdown", action: () => Promise<void>) => async () => {
    try {
      await action();
    } catch (error) {
      logger.warn({ err: error, baseUrl }, `Langfuse ${what} failed; traces may be lost`);
    }
  };

  return {
    enabled: true,
    callbacksFor: ({ userId, sessionId, messageId, isReply }) => {
      const params = { userId, sessionId, traceMetadata: { messageId } };
      return [isReply ? new ReplyCallbackHandler(params, replyTraceId(messageId)) : new CallbackHandler(params)];
    },
    scoreReply: (feedback) => {
      if (stopped) return;
      const { messageId } = feedback;
      unsent.set(messageId, feedback);
      if (posting.has(messageId)) return; // its loop posts this one next
      const loop = (async () => {
        try {
          for (let next = unsent.get(messageId); next; next = unsent.get(messageId)) {
            unsent.delete(messageId);
            await postScore(next);
          }
        } finally {
          posting.delete(messageId); // right after the last look at `unsent`: no rating can slip in between
        }
      })();
      posting.set(messageId, loop);
    },
    flush: guarded("flush", async () => {
      if (stopped) return;
      await pendingScores();
      await provider.forceFlush();
    }),
    shutdown: guarded("shutdown", async () => {
      if (stopped) return;
      stopped = true;
      await pendingScores(); // each ends within SCORE_TIMEOUT_MS
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
