// A raw SSE subscription (Yoga's GET + text/event-stream transport), read frame by frame.
import { CSRF_HEADER } from "../../src/api/yoga.ts";
import type { GraphQLResponse } from "./clients.ts";

export interface SseSubscription {
  /** The next `event: next` payload, or undefined when the server ended the stream. */
  next(): Promise<GraphQLResponse | undefined>;
  close(): Promise<void>;
}

export async function sseSubscribe(
  graphqlUrl: string,
  query: string,
  variables: Record<string, unknown>,
  token: string | undefined,
  /** Sent as well (an `x-api-key` instead of a token, say). */
  headers: Record<string, string> = {},
): Promise<SseSubscription> {
  const url = new URL(graphqlUrl);
  url.searchParams.set("query", query);
  url.searchParams.set("variables", JSON.stringify(variables));
  const response = await fetch(url, {
    headers: {
      accept: "text/event-stream",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      [CSRF_HEADER]: "1",
      ...headers,
    },
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const pending: GraphQLResponse[] = [];
  return {
    async next() {
      while (pending.length === 0) {
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffer += value;
        const frames = buffer.split("\n\n");
        buffer = frames.pop()!;
        for (const frame of frames) {
          const data = frame.split("\n").find((line) => line.startsWith("data: "));
          if (frame.startsWith("event: next") && data) pending.push(JSON.parse(data.slice(6)));
          if (frame.startsWith("event: complete")) return pending.shift();
        }
      }
      return pending.shift();
    },
    close: () => reader.cancel(),
  };
}
