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
export function useCredentialLifetime({ revocations }: CredentialLifetimePluginOptions): Plugin<{ viewer?: Viewer | null }> {
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

async function* endWhenCredentialsEnd(
  source: AsyncIterable<ExecutionResult>,
  viewer: Viewer,
  revocations: RevocationFeed,
): AsyncGenerator<ExecutionResult> {
  let endWith: (reason: string) => void = () => undefined;
  const ended = new Promise<{ ended: string }>((resolve) => (endWith = (reason) => resolve({ ended: reason })));
  const timer = setTimeout(
    () => endWith("The access token expired"),
    Math.min(Math.max(0, viewer.expiresAt.getTime() - Date.now()), MAX_TIMER_MS),
  );
  const unsubscribe = revocations.subscribe((loginId) => {
    if (loginId === viewer.loginId) endWith("The access token was revoked");
  });
  const iterator = source[Symbol.asyncIterator]();
  try {
    while (true) {
      const next = await Promise.race([iterator.next(), ended]);
      if ("ended" in next) {
        yield { errors: [createGraphQLError(`${next.ended}; refresh it and subscribe again.`, { extensions: { code: "UNAUTHENTICATED" } })] };
        return;
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
    unsubscribe();
    // Not awaited: an async generator waiting for its next event only returns after that event arrives.
    iterator.return?.().catch(() => undefined);
  }
}
