// One simulated chat: its own user and session, one graphql-ws connection holding one `messageStream` subscription
// (opened before the send), one `sendMessage` over HTTP, and everything it saw until the reply's final event.
import { print } from "graphql";
import type { Client } from "graphql-ws";
import { createSession, MESSAGE_STREAM, signUp, wsClient } from "../../test/support/clients.ts";
import { SendMessageDocument } from "../../test/generated/graphql.ts";
import { performance } from "node:perf_hooks";

/** Wall-clock ms with sub-ms resolution: the clock the fake LLM stamps its tokens with. */
export const wallNow = () => performance.timeOrigin + performance.now();

/** `sendMessage` errors that are the server declining work cleanly (documented codes): "refused", not failed. */
export const REFUSAL_CODES = new Set([
  "OVERLOADED",
  "RATE_LIMITED",
  "REPLY_LIMIT_EXCEEDED",
  "QUOTA_EXCEEDED",
  "SESSION_BUSY",
]);

const FINAL_EVENTS = new Set(["MessageCompleted", "MessageCancelled", "MessageFailed"]);
const SEND_MESSAGE = print(SendMessageDocument);
/** How often a chat sends again after OVERLOADED before it counts as refused. */
const MAX_OVERLOAD_RETRIES = 20;
/** One token of the fake LLM: `t<i>@<emission wall-clock ms> ` (scripts/load/fake-llm-server.ts). */
const TOKEN = /t\d+@(\d+(?:\.\d+)?) /g;

export interface ChatOutcome {
  /** HTTP status of sendMessage, when it answered. */
  sendStatus?: number;
  /** Error code of sendMessage: `extensions.code`, `HTTP_<status>` without one, or the network error's code. */
  sendCode?: string;
  /** `extensions.retryAfter` of a refusal. */
  retryAfter?: number;
  refused: boolean;
  /** Sends answered OVERLOADED and sent again after their Retry-After. */
  retries: number;
  /** sendMessage's response time. */
  sendMs?: number;
  /** From just before sendMessage to the first MessageDelta. */
  ttftMs?: number;
  /**
   * From just before sendMessage to the fake's emission of the first token received: the part of TTFT spent before
   * the model answered (the fake adds one token interval of its own); the rest of TTFT is delivery.
   */
  firstTokenEmittedMs?: number;
  /**
   * __typename of the final event; "TIMEOUT" when none came in time, "WS_CLOSED" when the socket or the subscription
   * ended first (finalCode: the close code, or the error code of a subscription that ended with an error).
   */
  final?: string;
  /** MessageFailed's code, or the close code of a closed socket. */
  finalCode?: string;
  /** MessageCompleted's content equals the concatenated deltas (since the last MessageRestarted). */
  contentMatches?: boolean;
  tokensReceived: number;
  /** Delta text that is not one of the fake's tokens (the server changed the text). */
  foreignText: number;
  sawQueued: boolean;
  restarts: number;
  /** Resubscriptions after STREAM_OVERFLOW (the subscriber fell behind) while this reply streamed. */
  overflowResumes: number;
  /** Wall-clock ms of the final event. */
  finalAt?: number;
}

export interface LevelCollector {
  /** Receive time of the delta minus the token's emission time, for every token received. */
  tokenLatencies: number[];
  /** The fake model's clock minus ours (FakeLlm.clockOffsetMs). */
  clockOffsetMs: number;
  /** Events of other types than the known ones, by __typename. */
  otherEvents: Map<string, number>;
}

interface StreamEvent {
  __typename: string;
  messageId: string;
  delta?: string;
  message?: { content: string };
  code?: string;
}

export class Chat {
  private client: Client | undefined;
  private unsubscribe: (() => void) | undefined;
  private onEvent: ((event: StreamEvent, at: number) => void) | undefined;
  private onClosed: ((code: string) => void) | undefined;
  /** Events that arrived before send() (none expected). */
  private early: Array<{ event: StreamEvent; at: number }> = [];
  /** Bumped by every (re)subscription: events of an ended one are ignored. */
  private generation = 0;
  /** Resubscriptions after STREAM_OVERFLOW, since the chat was set up. */
  private resumes = 0;

  private constructor(
    readonly token: string,
    readonly sessionId: string,
  ) {}

  /** Signs a user up and creates a session, retrying a few times (setup is not what is measured). */
  static async create(graphqlUrl: string): Promise<Chat> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const user = await signUp(graphqlUrl);
        return new Chat(user.token, await createSession(graphqlUrl, user.token));
      } catch (error) {
        lastError = error;
        await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
      }
    }
    throw lastError;
  }

  /** A chat on an existing user's session (several subscriptions per user). */
  static forSession(token: string, sessionId: string): Chat {
    return new Chat(token, sessionId);
  }

  /** Opens the socket and subscribes; resolves once the connection is acknowledged and the subscription sent. */
  async subscribe(wsUrl: string, timeoutMs = 30_000): Promise<void> {
    const client = wsClient(wsUrl, this.token);
    this.client = client;
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("graphql-ws: no connection_ack in time")), timeoutMs);
      client.on("connected", () => {
        clearTimeout(timer);
        resolve();
      });
      client.on("closed", (event) => {
        clearTimeout(timer);
        const code = String((event as { code?: number }).code ?? "?");
        reject(new Error(`graphql-ws closed (${code}) before it was connected`));
        this.onClosed?.(code);
      });
    });
    this.listen();
    await connected;
  }

  /**
   * Subscribes on the open client, from `after` when given. A subscriber that fell too far behind gets STREAM_OVERFLOW
   * with `extensions.resumeAfter` and its stream ends; like a real client, the chat subscribes again from there.
   */
  private listen(after?: string): void {
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    this.unsubscribe = this.client!.subscribe<{ messageStream: StreamEvent }>(
      { query: MESSAGE_STREAM, variables: { sessionId: this.sessionId, ...(after ? { after } : {}) } },
      {
        next: (result) => {
          if (!current()) return;
          const at = wallNow();
          const error = result.errors?.[0] as { extensions?: { code?: string; resumeAfter?: string } } | undefined;
          if (error) {
            const code = String(error.extensions?.code ?? "STREAM_ERROR");
            if (code === "STREAM_OVERFLOW" && error.extensions?.resumeAfter) {
              this.resumes++;
              this.listen(error.extensions.resumeAfter);
            } else this.onClosed?.(code);
            return;
          }
          const event = result.data?.messageStream;
          if (!event) return;
          if (this.onEvent) this.onEvent(event, at);
          else this.early.push({ event, at });
        },
        error: (error) => {
          if (!current()) return;
          const code = Array.isArray(error)
            ? String((error[0] as { extensions?: { code?: string } })?.extensions?.code ?? "SUBSCRIPTION_ERROR")
            : String((error as { code?: number }).code ?? "SUBSCRIPTION_ERROR");
          this.onClosed?.(code);
        },
        complete: () => {
          if (current()) this.onClosed?.("COMPLETE");
        },
      },
    );
  }

  /** The request body, built before the common start so the burst is only the sends. */
  sendBody(index: number): string {
    return JSON.stringify({
      query: SEND_MESSAGE,
      variables: { input: { sessionId: this.sessionId, content: `Hello from bench chat ${index}` } },
    });
  }

  /** Sends and waits for both its answer and the reply's final event (or `timeoutMs` after the send). Never throws. */
  async run(graphqlUrl: string, body: string, collector: LevelCollector, timeoutMs: number): Promise<ChatOutcome> {
    const outcome: ChatOutcome = {
      refused: false,
      retries: 0,
      tokensReceived: 0,
      foreignText: 0,
      sawQueued: false,
      restarts: 0,
      overflowResumes: 0,
    };
    const resumesBefore = this.resumes;
    const sentAt = wallNow();
    let text = "";
    let endStream!: () => void;
    const streamEnded = new Promise<void>((resolve) => (endStream = resolve));
    const timer = setTimeout(() => {
      outcome.final ??= "TIMEOUT";
      endStream();
    }, timeoutMs);

    this.onEvent = (event, at) => {
      switch (event.__typename) {
        case "MessageDelta": {
          const delta = event.delta ?? "";
          outcome.ttftMs ??= at - sentAt;
          text += delta;
          let matched = 0;
          for (const match of delta.matchAll(TOKEN)) {
            const emittedAt = Number(match[1]) - collector.clockOffsetMs;
            outcome.firstTokenEmittedMs ??= emittedAt - sentAt;
            collector.tokenLatencies.push(at - emittedAt);
            outcome.tokensReceived++;
            matched += match[0].length;
          }
          if (matched !== delta.length) outcome.foreignText++;
          return;
        }
        case "MessageRestarted":
          outcome.restarts++;
          text = "";
          return;
        case "MessageQueued":
          outcome.sawQueued = true;
          return;
        default:
          if (FINAL_EVENTS.has(event.__typename)) {
            outcome.final ??= event.__typename;
            outcome.finalCode ??= event.code;
            outcome.finalAt ??= at;
            if (event.__typename === "MessageCompleted") outcome.contentMatches = event.message?.content === text;
            endStream();
          } else {
            collector.otherEvents.set(event.__typename, (collector.otherEvents.get(event.__typename) ?? 0) + 1);
          }
      }
    };
    this.onClosed = (code) => {
      outcome.final ??= "WS_CLOSED";
      outcome.finalCode ??= code;
      endStream();
    };
    for (const { event, at } of this.early.splice(0)) this.onEvent(event, at);

    // As a client should: an OVERLOADED send is sent again after its Retry-After, with jitter (TTFT still counts
    // from the first).
    const attempt = (): Promise<void> =>
      fetch(graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${this.token}` },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      })
        .then(async (response) => {
          outcome.sendStatus = response.status;
          const json = (await response.json().catch(() => undefined)) as
            | { data?: unknown; errors?: Array<{ extensions?: { code?: string; retryAfter?: number } }> }
            | undefined;
          outcome.sendMs = wallNow() - sentAt;
          const error = json?.errors?.[0];
          if (error || !response.ok || !json?.data) {
            outcome.sendCode = error?.extensions?.code ?? `HTTP_${response.status}`;
            outcome.retryAfter = error?.extensions?.retryAfter;
          }
        })
        .catch((error: unknown) => {
          outcome.sendMs = wallNow() - sentAt;
          const cause = (error as { cause?: { code?: string } }).cause;
          outcome.sendCode = cause?.code ?? (error as Error).name ?? "FETCH_ERROR";
        })
        .then(async () => {
          if (
            outcome.sendCode === "OVERLOADED" &&
            outcome.retries < MAX_OVERLOAD_RETRIES &&
            wallNow() - sentAt < timeoutMs
          ) {
            outcome.retries++;
            // Spread over a second past Retry-After, so refused clients do not all come back at one instant.
            await new Promise((resolve) =>
              setTimeout(resolve, (outcome.retryAfter ?? 1) * 1000 + Math.random() * 1000),
            );
            outcome.sendCode = outcome.retryAfter = undefined;
            return attempt();
          }
          if (outcome.sendCode === undefined) return;
          // Refused or failed at the send: no reply to wait for.
          outcome.refused = REFUSAL_CODES.has(outcome.sendCode);
          outcome.final ??= "SEND_ERROR";
          endStream();
        });
    const sent = attempt();

    await Promise.all([sent, streamEnded]);
    clearTimeout(timer);
    outcome.overflowResumes = this.resumes - resumesBefore;
    this.onEvent = undefined;
    this.onClosed = undefined;
    return outcome;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.client?.dispose();
  }
}
