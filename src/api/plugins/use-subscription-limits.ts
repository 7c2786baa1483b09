import { createGraphQLError, isAsyncIterable, type Plugin } from "graphql-yoga";
import { callerKey, type LimitedContext } from "./use-rate-limits.ts";

export interface SubscriptionLimitsPluginOptions {
  /**
   * Subscriptions one user holds at once on this instance, over every graphql-ws connection and SSE stream together.
   * @default 20
   */
  maxPerUser?: number;
  /** Subscriptions one graphql-ws connection holds at once. @default 10 */
  maxPerConnection?: number;
  /** Subscriptions one user holds over HTTP (SSE) at once on this instance: each is an open HTTP stream. @default 5 */
  maxSseStreamsPerUser?: number;
  /**
   * Proxies in front of the server whose `X-Forwarded-For` entries are trusted (anonymous callers are counted per
   * address, as the rate limits count them).
   * @default 0
   */
  trustedProxyHops?: number;
}

/** Which cap refused a subscription: `extensions.limit` of SUBSCRIPTION_LIMIT_EXCEEDED. */
export type SubscriptionLimit = "perUser" | "perConnection" | "sseStreamsPerUser";

interface SubscriptionContext extends LimitedContext {
  /** The graphql-ws connection the operation came on (graphql-ws.ts puts it in the context); absent over HTTP. */
  socket?: object;
}

/**
 * Caps the subscriptions held at once: per user (graphql-ws and SSE together), per graphql-ws connection, and SSE
 * streams per user. A subscription over a cap is refused with SUBSCRIPTION_LIMIT_EXCEEDED before it starts (its
 * resolver never runs: nothing is replayed, nothing is listened to). A slot is given back the moment its
 * subscription ends: the client completes it or goes away (socket closed, SSE stream cancelled), or the server
 * ends it. Counted per instance: a user can hold this many on each instance.
 */
export function useSubscriptionLimits({
  maxPerUser = 20,
  maxPerConnection = 10,
  maxSseStreamsPerUser = 5,
  trustedProxyHops = 0,
}: SubscriptionLimitsPluginOptions = {}): Plugin {
  const perUser = new Counts<string>();
  const ssePerUser = new Counts<string>();
  const perConnection = new Counts<object>();

  return {
    onSubscribe({ args, subscribeFn, setSubscribeFn, setResultAndStopExecution }) {
      const context = args.contextValue as SubscriptionContext;
      const user = callerKey(context, trustedProxyHops);
      const connection = context.socket;
      const refusedBy: [SubscriptionLimit, number] | undefined =
        connection && perConnection.get(connection) >= maxPerConnection
          ? ["perConnection", maxPerConnection]
          : !connection && ssePerUser.get(user) >= maxSseStreamsPerUser
            ? ["sseStreamsPerUser", maxSseStreamsPerUser]
            : perUser.get(user) >= maxPerUser
              ? ["perUser", maxPerUser]
              : undefined;
      if (refusedBy) {
        setResultAndStopExecution({ errors: [limitExceeded(...refusedBy)] });
        return undefined;
      }

      // Taken now (no await since the check), so concurrent subscribes cannot all pass the last free slot.
      perUser.add(user);
      if (connection) perConnection.add(connection);
      else ssePerUser.add(user);
      let held = true;
      const release = () => {
        if (!held) return;
        held = false;
        perUser.remove(user);
        if (connection) perConnection.remove(connection);
        else ssePerUser.remove(user);
      };
      // A subscribe that throws (instead of answering with errors) reaches no result hook.
      setSubscribeFn(async (subscribeArgs) => {
        try {
          return await subscribeFn(subscribeArgs);
        } catch (error) {
          release();
          throw error;
        }
      });
      return {
        onSubscribeResult({ result, setResult }) {
          // Refused further on (auth, cost, NOT_FOUND): it never started.
          if (!isAsyncIterable(result)) return release();
          setResult(releasedOnEnd(result, release));
        },
      };
    },
  };
}

function limitExceeded(limit: SubscriptionLimit, maximum: number) {
  const holder = {
    perUser: "per user",
    perConnection: "per graphql-ws connection",
    sseStreamsPerUser: "SSE streams per user",
  }[limit];
  return createGraphQLError(`Too many subscriptions: at most ${maximum} ${holder}; end one before starting another.`, {
    extensions: { code: "SUBSCRIPTION_LIMIT_EXCEEDED", limit, maximum },
  });
}

/**
 * The same stream, calling `release` once when it ends: done, failed, or returned by the client. Not an async
 * generator: a generator's `return()` waits for the event it is awaiting, which may never come, and the slot
 * must come back the moment the client leaves. A `next()` still waiting then answers "done" at once, so the
 * transport finishes the operation now too (graphql-ws's `complete` bookkeeping, the socket's idle clock). This
 * must be the outermost wrapper a plugin sets: useSubscriptionLimits comes after useCredentialLifetime, whose
 * wrapper is a generator.
 */
function releasedOnEnd<T>(source: AsyncIterable<T>, release: () => void): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    release();
  };
  let cancel!: () => void;
  const cancelled = new Promise<IteratorReturnResult<undefined>>((resolve) => (cancel = () => resolve(done)));
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => {
      if (ended) return Promise.resolve(done);
      const step = iterator.next().then(
        (result) => {
          if (result.done) finish();
          return result;
        },
        (error: unknown) => {
          finish();
          throw error;
        },
      );
      return Promise.race([step, cancelled]);
    },
    return: () => {
      if (!ended) {
        finish();
        cancel();
        // Not awaited, for the same reason: the source unwinds in its own time.
        iterator.return?.().catch(() => undefined);
      }
      return Promise.resolve(done);
    },
    throw: (error?: unknown) => {
      finish();
      cancel();
      return iterator.throw ? iterator.throw(error) : Promise.reject(error);
    },
  };
}

/** How many each key holds; a key at zero is forgotten, so nothing accumulates. */
class Counts<K> {
  private readonly counts = new Map<K, number>();

  get(key: K): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: K): void {
    this.counts.set(key, this.get(key) + 1);
  }

  remove(key: K): void {
    const count = this.get(key) - 1;
    if (count > 0) this.counts.set(key, count);
    else this.counts.delete(key);
  }
}
