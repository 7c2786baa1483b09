// API errors as a user can act on them: what happened and what to do, with the numbers the API sends.
import type { CombinedError } from "@urql/core";

interface CodedError {
  message: string;
  extensions?: Record<string, unknown>;
}

type ErrorLike = CombinedError | CodedError | null | undefined;

function firstError(error: ErrorLike): CodedError | undefined {
  if (!error) return undefined;
  if ("graphQLErrors" in error) return error.graphQLErrors[0];
  return error;
}

export function errorCode(error: ErrorLike): string | undefined {
  const code = firstError(error)?.extensions?.code;
  return typeof code === "string" ? code : undefined;
}

const number = (value: unknown) => (typeof value === "number" ? value : undefined);

function clockTime(iso: unknown): string {
  return typeof iso === "string"
    ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : "later";
}

/** One sentence for the error banner. */
export function describeError(error: ErrorLike): string {
  if (error && "networkError" in error && error.networkError && error.graphQLErrors.length === 0) {
    return "Can't reach the server. Check your connection and try again.";
  }
  const first = firstError(error);
  if (!first) return "Something went wrong.";
  const details = first.extensions ?? {};
  switch (details.code) {
    case "RATE_LIMITED": {
      const wait = number(details.retryAfter);
      return `Too many requests. Try again in ${wait ?? "a few"} second${wait === 1 ? "" : "s"}.`;
    }
    case "QUOTA_EXCEEDED":
      return `You have used today's quota (${number(details.tokensUsed) ?? "all"} of ${number(details.tokenLimit) ?? "your"} tokens). It resets at ${clockTime(details.resetsAt)}.`;
    case "SESSION_BUSY":
      return "A reply is still being written in this chat. Wait for it to finish or press Stop.";
    case "REPLY_LIMIT_EXCEEDED":
      return `You already have ${number(details.activeReplies) ?? "several"} replies being written (the limit is ${number(details.limit) ?? "reached"}). Wait for one to finish.`;
    case "OVERLOADED":
      return `The server is busy. Try again in ${number(details.retryAfter) ?? "a few"} seconds.`;
    case "UNAUTHENTICATED":
      return first.message || "Please sign in again.";
    default:
      // BAD_USER_INPUT and the like carry a message written for the user ("input.password must …").
      return first.message;
  }
}
