// Expected failures of a use case. The API layer turns them into GraphQL errors with `extensions.code`;
// anything else is an unexpected error and gets masked.
import type { z } from "zod";

export type ErrorCode =
  | "BAD_USER_INPUT"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "QUOTA_EXCEEDED"
  | "REPLY_LIMIT_EXCEEDED"
  | "OVERLOADED"
  | "SESSION_BUSY"
  | "REPLY_STREAMING";

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Goes into `extensions` next to the code: `field` for input errors, numbers a client can act on. */
    readonly details: { field?: string } & Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "AppError";
  }
}

/** Why a request authenticated by an API key may not manage keys or sign-ins (FORBIDDEN). */
export const API_KEY_FORBIDDEN = "An API key cannot manage API keys or sign-ins; sign in with a password to do this";

export const notFound = (what: string) => new AppError("NOT_FOUND", `${what} not found`);

/** Parses one input field; a failure names the field (`input.content: must not be empty`). */
export function parseField<T extends z.ZodType>(rule: T, field: string, value: unknown): z.output<T> {
  const result = rule.safeParse(value);
  if (result.success) return result.data;
  const message = result.error.issues[0]?.message ?? "is invalid";
  throw new AppError("BAD_USER_INPUT", `${field} ${message}`, { field });
}
