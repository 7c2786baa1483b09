import { isAsyncIterable, type Plugin } from "graphql-yoga";
import { isAbortError } from "../../observability/deadline.ts";
import type { Metrics } from "../../observability/metrics.ts";
import { errorCodeLabel } from "./error-code-label.ts";

export interface StreamMetricsPluginOptions {
  metrics: Pick<Metrics, "activeSubscriptions" | "streamEvents" | "streamErrors">;
}

/** graphql-ws builds the context with the socket (src/api/graphql-ws.ts); HTTP requests carry a Request. */
function transportOf(context: unknown): "ws" | "http" {
  return context && typeof context === "object" && "socket" in context ? "ws" : "http";
}

/**
 * Subscriptions as the clients see them, on every transport: how many stream now, the events sent, and errors
 * (refused at subscribe, errors inside events, a source that broke).
 */
export function useStreamMetrics({ metrics }: StreamMetricsPluginOptions): Plugin {
  const codeOf = errorCodeLabel;
  return {
    onSubscribe({ args }) {
      const transport = transportOf(args.contextValue);
      let open = false;
      const end = () => {
        if (open) metrics.activeSubscriptions.dec({ transport });
        open = false;
      };
      return {
        onSubscribeResult({ result }) {
          if (!isAsyncIterable(result)) {
            for (const error of result.errors ?? []) metrics.streamErrors.inc({ transport, code: codeOf(error) });
            return;
          }
          open = true;
          metrics.activeSubscriptions.inc({ transport });
          return {
            onNext({ result: event }) {
              metrics.streamEvents.inc({ transport });
              for (const error of event.errors ?? []) metrics.streamErrors.inc({ transport, code: codeOf(error) });
            },
            onEnd: end,
          };
        },
        onSubscribeError({ error }) {
          // The source threw mid-stream: the subscription ends without onEnd. A client that left is no error.
          end();
          if (!isAbortError(error)) metrics.streamErrors.inc({ transport, code: codeOf(error) });
        },
      };
    },
  };
}
