// What a failed model call means for the next step: retry the same model, move on to the next one, or stop.
// Provider-neutral: it reads an HTTP `status` and `headers` wherever an SDK puts them (the OpenAI SDK does) and
// Node's network error codes, so any LangChain chat model that surfaces those is classified the same way.

/** Retry-After values above this are not waited for: the next model is tried instead. */
const RETRY_AFTER_CAP_MS = 10_000;

export interface FailedModel {
  model: string;
  /** Requests sent to it (0 when its circuit was open). */
  attempts: number;
  /** The last failure, e.g. "HTTP 500", "no chunk for 30000 ms", "circuit open". */
  reason: string;
}

/** Every candidate failed or was skipped, or the total deadline passed. */
export class ModelUnavailableError extends Error {
  override readonly name = "ModelUnavailableError";

  constructor(
    readonly failures: FailedModel[],
    readonly deadlineExceededMs?: number,
    options?: { cause?: unknown },
  ) {
    const tried = failures.map((f) => `${f.model} (${f.attempts} attempt${f.attempts === 1 ? "" : "s"}, ${f.reason})`);
    const why = deadlineExceededMs === undefined ? "" : `deadline of ${deadlineExceededMs} ms exceeded; `;
    super(`No model could answer: ${why}${tried.join("; ") || "no model tried"}`, options);
  }
}

export type FailureKind =
  /** Worth another try on the same model: 429, 5xx, timeouts, network errors, broken streams. */
  | "transient"
  /** The provider will refuse everyone the same way until its configuration changes: 401, 403, 404. */
  | "provider"
  /** This request is at fault (400, 422, …): no retry, but another model may accept it. */
  | "request"
  /** The caller aborted, or the total deadline ended the attempt: stop, and blame nobody. */
  | "cancelled";

/** One failed attempt, classified. The policies decide by `kind` alone. */
export class AttemptFailure extends Error {
  override readonly name = "AttemptFailure";

  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
    /** From Retry-After / retry-after-ms, when the provider sent one. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get retryable(): boolean {
    return this.kind === "transient";
  }

  /** Counted by the model's circuit breaker: the provider, not this request, is in trouble. */
  get countsAgainstModel(): boolean {
    return this.kind === "transient" || this.kind === "provider";
  }
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/**
 * Classifies what a model's stream threw. `cancelled` wins over everything: once our own signal fired, the
 * error is only the echo of that abort. `waitableMs` bounds how long a Retry-After may ask us to wait.
 */
export function classifyFailure(error: unknown, { cancelled, waitableMs }: { cancelled: boolean; waitableMs: number }) {
  if (error instanceof AttemptFailure) return error;
  const cause = { cause: error };
  if (cancelled) return new AttemptFailure("cancelled", "cancelled", undefined, undefined, cause);
  const status = statusOf(error);
  if (status !== undefined) {
    const http = `HTTP ${status}`;
    if (status === 429) {
      const retryAfterMs = retryAfterOf(error);
      if (retryAfterMs !== undefined && retryAfterMs > Math.min(RETRY_AFTER_CAP_MS, waitableMs)) {
        // Waiting that long would burn the deadline; a fallback model may answer now.
        return new AttemptFailure("provider", `${http}, retry after ${retryAfterMs} ms`, status, retryAfterMs, cause);
      }
      return new AttemptFailure("transient", http, status, retryAfterMs, cause);
    }
    if (status === 408 || status >= 500) return new AttemptFailure("transient", http, status, undefined, cause);
    if (status === 401 || status === 403 || status === 404)
      return new AttemptFailure("provider", http, status, undefined, cause);
    return new AttemptFailure("request", http, status, undefined, cause);
  }
  if (isNetworkError(error))
    return new AttemptFailure("transient", `network error: ${messageOf(error)}`, undefined, undefined, cause);
  // Anything else (a bug, an unparsable answer) is not retried: it would most likely fail the same way.
  return new AttemptFailure("request", messageOf(error), undefined, undefined, cause);
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" && status >= 400 ? status : undefined;
}

/** OpenAI sends `retry-after-ms`; everyone else `retry-after` in seconds or as an HTTP date. */
function retryAfterOf(error: unknown): number | undefined {
  const headers = (error as { headers?: unknown }).headers;
  const get = (name: string): string | null | undefined =>
    headers instanceof Headers ? headers.get(name) : (headers as Record<string, string> | undefined)?.[name];
  const ms = Number(get("retry-after-ms"));
  if (get("retry-after-ms") && Number.isFinite(ms)) return Math.max(0, ms);
  const value = get("retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Connection refused/reset, DNS, and undici's "terminated" when a socket closes mid-body. */
function isNetworkError(error: unknown): boolean {
  for (
    let e = error as { name?: string; code?: string; message?: string; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    depth++
  ) {
    if (e.code && (NETWORK_CODES.has(e.code) || e.code.startsWith("UND_ERR_"))) return true;
    const kind = (e as object).constructor?.name;
    if (kind === "APIConnectionError" || kind === "APIConnectionTimeoutError" || e.name === "TimeoutError") return true;
    if (e.message === "terminated" || e.message === "fetch failed") return true;
    e = e.cause as typeof e;
  }
  return false;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The caller's abort, as an AbortError (its reason as the cause when that is something else). */
export function abortErrorFrom(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  const error = new Error("The model call was aborted", { cause: reason });
  error.name = "AbortError";
  return error;
}
