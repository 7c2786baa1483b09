import { isAsyncIterable, type Plugin } from "@envelop/core";
import type { ExecutionResult } from "graphql";
import { createGraphQLError } from "graphql-yoga";
import type { RevocationFeed } from "../../security/revocations.ts";
import type { Viewer } from "../../security/viewer.ts";

export interface CredentialLifetimePluginOptions {
  revocations: RevocationFeed;
}

/** setTimeout's ceiling (~24.8 days); a longer-lived token's subscription ends then and is resumed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A subscription lives no longer than the access token that opened it: at expiry or logout it ends with a
 * final UNAUTHENTICATED error, over SSE and graphql-ws alike (graphql-ws also closes the socket, see
 * graphql-ws.ts). Otherwise a stolen token would keep streaming a user's replies after they signed out.
 */
export function useCredentialLifetime({
  revocations,
}: CredentialLifetimePluginOptions): Plugin<{ viewer?: Viewer | null }> {
  return {
    onSubscribe({ args }) {
      const viewer = (args.contextValue as { viewer?: Viewer | null }).viewer;
      if (!viewer) return undefined;
      return {
        onSubscribeResult({ result, setResult }) {
          if (isAsyncIterable(result)) setResult(endWhenCredentialsEnd(result, viewer, revocations));
        },
      };
    },
  };
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The source, ended with one UNAUTHENTICATED result when the credentials end. Not an async generator: a
 * generator's `return()` waits for the event its body awaits, so a subscription the client ended would hold the
 * source (its bus listener) until the session's next event. Here `return()` answers a waiting `next()` at once and
 * returns the source without waiting for it. No `Promise.race` per event either (each would stay attached to the
 * credentials' promise for the subscription's whole life).
 */
function endWhenCredentialsEnd(
  source: AsyncIterable<ExecutionResult>,
  viewer: Viewer,
  revocations: RevocationFeed,
): AsyncIterableIterator<ExecutionResult> {
  const iterator = source[Symbol.asyncIterator]();
  /** Why the credentials ended, until that final result is handed out. */
  let endedBecause: string | undefined;
  let closed = false;
  /** The `next()` waiting for the source, if any. */
  let waiting:
    | { resolve: (result: IteratorResult<ExecutionResult>) => void; reject: (error: unknown) => void }
    | undefined;
  const release = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    unsubscribe();
    // Not awaited: the source unwinds in its own time.
    iterator.return?.()?.catch(() => undefined);
  };
  const finalResult = (reason: string): IteratorResult<ExecutionResult> => ({
    done: false,
    value: {
      errors: [
        createGraphQLError(`${reason}; refresh it and subscribe again.`, { extensions: { code: "UNAUTHENTICATED" } }),
      ],
    },
  });
  const endWith = (reason: string) => {
    if (closed) return;
    release();
    const waiter = waiting;
    waiting = undefined;
    if (waiter) waiter.resolve(finalResult(reason));
    else endedBecause = reason;
  };
  const timer = setTimeout(
    () => endWith(viewer.apiKeyId ? "The API key expired" : "The access token expired"),
    Math.min(Math.max(0, viewer.expiresAt.getTime() - Date.now()), MAX_TIMER_MS),
  );
  const unsubscribe = revocations.subscribe((credentialId) => {
    if (credentialId === viewer.credentialId)
      endWith(viewer.apiKeyId ? "The API key was revoked" : "The access token was revoked");
  });
  const stop = (): IteratorReturnResult<undefined> => {
    release();
    endedBecause = undefined;
    const waiter = waiting;
    waiting = undefined;
    waiter?.resolve(DONE);
    return DONE;
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next() {
      if (endedBecause !== undefined) {
        const reason = endedBecause;
        endedBecause = undefined;
        return Promise.resolve(finalResult(reason));
      }
      if (closed) return Promise.resolve(DONE);
      return new Promise<IteratorResult<ExecutionResult>>((resolve, reject) => {
        const waiter = { resolve, reject };
        waiting = waiter;
        iterator.next().then(
          (result) => {
            if (waiting !== waiter) return; // answered already: the credentials ended, or the client left
            waiting = undefined;
            if (result.done) release();
            resolve(result);
          },
          (error: unknown) => {
            if (waiting !== waiter) return;
            waiting = undefined;
            release();
            reject(error);
          },
        );
      });
    },
    return: () => Promise.resolve(stop()),
    throw: (error?: unknown) => {
      stop();
      return Promise.reject(error);
    },
  };
}
