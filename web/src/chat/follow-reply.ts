// Follows one reply to its end across dropped sockets, expired tokens and slow readers: one subscription at a
// time, always resumed `after:` the last cursor seen, so the text has no gap and nothing twice.
import { SignedOutError } from "../auth/auth-session.ts";
import type { Api } from "../api/client.ts";
import { ReplyEventsDocument, type ReplyEventsSubscription } from "../generated/graphql.ts";

export type ReplyEvent = ReplyEventsSubscription["messageStream"];
export type FinalReplyEvent = Extract<
  ReplyEvent,
  { __typename: "MessageCompleted" | "MessageCancelled" | "MessageFailed" | "MessageSnapshot" }
>;

/** The stream refused us for good (the session was deleted, say): reconnecting would not help. */
export class StreamRefusedError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface FollowReplyOptions {
  sessionId: string;
  replyId: string;
  /** `sendMessage.streamCursor` or `activeReply.streamCursor`: the stream replays the reply from its start. */
  after: string;
  signal: AbortSignal;
  /** Every event of this reply, with the reply's whole text so far. */
  onEvent(event: ReplyEvent, text: string): void;
  onConnection?(state: "live" | "reconnecting"): void;
}

const FINAL = new Set(["MessageCompleted", "MessageCancelled", "MessageFailed"]);

export function isFinal(event: ReplyEvent): event is FinalReplyEvent {
  // A snapshot of a reply that has already ended is the last thing this stream will say about it.
  return (
    FINAL.has(event.__typename) || (event.__typename === "MessageSnapshot" && event.message.status !== "STREAMING")
  );
}

/** Resolves with the reply's final event, or null when `signal` aborts first. */
export async function followReply(api: Api, options: FollowReplyOptions): Promise<FinalReplyEvent | null> {
  const { sessionId, replyId, signal, onEvent, onConnection } = options;
  let cursor = options.after;
  let text = "";
  for (let attempt = 0; !signal.aborted; ) {
    const results = api.subscribe(ReplyEventsDocument, { sessionId, after: cursor });
    const stop = () => void results.return?.();
    signal.addEventListener("abort", stop, { once: true });
    let resubscribe = false;
    try {
      for await (const result of results) {
        const error = result.errors?.[0];
        if (error) {
          const code = error.extensions?.code as string | undefined;
          if (code === "STREAM_OVERFLOW") {
            cursor = String(error.extensions?.resumeAfter ?? cursor);
            resubscribe = true;
            break;
          }
          if (code === "UNAUTHENTICATED") {
            await api.auth.refresh();
            resubscribe = true;
            break;
          }
          throw new StreamRefusedError(error.message, code);
        }
        const event = result.data?.messageStream;
        if (!event) continue;
        cursor = event.cursor; // every event moves the cursor, whichever reply it belongs to
        attempt = 0;
        onConnection?.("live");
        if (event.messageId !== replyId) continue;
        text = applyEvent(text, event);
        onEvent(event, text);
        if (isFinal(event)) return event;
      }
      // Ended without this reply's final event and without a reason to resume at once: wait before trying again.
      if (!resubscribe) await sleep(Math.min(5_000, 250 * 2 ** attempt++), signal);
    } catch (error) {
      if (error instanceof SignedOutError || error instanceof StreamRefusedError) throw error;
      if (signal.aborted) break;
      // 4401: the socket's token ended (expired or replaced). Anything else: the network; back off and resume.
      if (closeCode(error) === 4401) await api.auth.refresh();
      else {
        onConnection?.("reconnecting");
        await sleep(Math.min(5_000, 250 * 2 ** attempt++), signal);
      }
    } finally {
      signal.removeEventListener("abort", stop);
    }
  }
  return null;
}

function applyEvent(text: string, event: ReplyEvent): string {
  switch (event.__typename) {
    case "MessageDelta":
      return text + event.delta;
    case "MessageSnapshot":
      return event.content; // replaces, never appends
    case "MessageRestarted":
      return ""; // the model starts over; the deltas that follow are the whole reply
    default:
      return text;
  }
}

function closeCode(error: unknown): number | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "number"
    ? error.code
    : undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
