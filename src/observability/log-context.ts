// Who and what a log line is about, carried through async calls (AsyncLocalStorage) instead of passed around:
// the HTTP server opens a context per request, plugins and services add to it as they learn the ids, and the
// logger's `mixin` puts them on every line written inside it (including lines from libraries using our logger).
import { AsyncLocalStorage } from "node:async_hooks";

export interface LogContext {
  requestId?: string;
  userId?: string;
  /** The chat session an operation or reply belongs to. */
  sessionId?: string;
  /** The assistant reply a background run produces. */
  messageId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` in a new context: the current one's fields plus `fields` (later additions stay inside it). */
export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...fields }, fn);
}

/** Adds fields to the current context (no-op outside one), e.g. the user id once the token is checked. */
export function bindLogContext(fields: LogContext): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}

/** The fields to put on a log line now. */
export function currentLogContext(): LogContext {
  const store = storage.getStore();
  if (!store) return {};
  const fields: LogContext = {};
  for (const [key, value] of Object.entries(store)) if (value !== undefined) fields[key as keyof LogContext] = value;
  return fields;
}
