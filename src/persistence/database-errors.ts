// Which database failures are worth another try, and which failures are the database's at all (so a reply that
// fails for a storage reason says so instead of blaming the model).
import { isDriverAdapterError } from "@prisma/driver-adapter-utils";
import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import { Prisma } from "../generated/prisma/client.ts";

const { PrismaClientInitializationError, PrismaClientKnownRequestError, PrismaClientUnknownRequestError } = Prisma;

/** Prisma codes that say "not now" rather than "never": no connection in time, connection lost, write conflict. */
const TRANSIENT_PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2028", "P2034"]);
/** The same from the driver or PostgreSQL itself: network errors, serialization failure, deadlock, shutdown. */
const TRANSIENT_DRIVER_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "40001",
  "40P01",
  "53300",
  "57P01",
  "57P02",
  "57P03",
  "08000",
  "08003",
  "08006",
]);

/** True when the same statement may well succeed if tried again in a moment. */
export function isTransientDatabaseError(error: unknown): boolean {
  for (
    let e = error as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0;
    e && depth < 6;
    depth++
  ) {
    if (e instanceof PrismaClientKnownRequestError && TRANSIENT_PRISMA_CODES.has(e.code)) return true;
    if (typeof e.code === "string" && TRANSIENT_DRIVER_CODES.has(e.code)) return true;
    // Driver adapter errors carry the PostgreSQL error under `cause` (kind, code, originalCode).
    const cause = e.cause as { originalCode?: unknown; kind?: unknown } | undefined;
    if (typeof cause?.originalCode === "string" && TRANSIENT_DRIVER_CODES.has(cause.originalCode)) return true;
    if (
      cause?.kind === "TransactionWriteConflict" ||
      cause?.kind === "DatabaseNotReachable" ||
      cause?.kind === "ConnectionClosed"
    )
      return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** True when the failure came from the database (or the way to it), whatever it was. */
export function isDatabaseError(error: unknown): boolean {
  for (let e = error as { name?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 6; depth++) {
    if (
      e instanceof PrismaClientKnownRequestError ||
      e instanceof PrismaClientUnknownRequestError ||
      e instanceof PrismaClientInitializationError ||
      // Prisma's own guard, not `instanceof`: the PGlite adapter brings a second copy of the error class.
      isDriverAdapterError(e)
    ) {
      return true;
    }
    e = e.cause as typeof e;
  }
  return isTransientDatabaseError(error);
}

/** Failures that prove the statement never reached the database: no connection, or none in time. */
const UNSENT_PRISMA_CODES = new Set(["P1001", "P2024", "P2028"]);

export function isUnsentDatabaseError(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 6; depth++) {
    if (e instanceof PrismaClientKnownRequestError && UNSENT_PRISMA_CODES.has(e.code)) return true;
    if (e.code === "ECONNREFUSED") return true;
    e = e.cause as typeof e;
  }
  return false;
}

const backoff = new ExponentialBackoff({ initialDelay: 50, maxDelay: 400 });
const transientRetry = retry(handleWhen(isTransientDatabaseError), { maxAttempts: 2, backoff });
const unsentRetry = retry(handleWhen(isUnsentDatabaseError), { maxAttempts: 2, backoff });

/**
 * Runs `work` again (three attempts in all, 50 to 400 ms apart, with jitter) when it fails transiently. `safe`:
 * `repeatable` work (a transaction, which rolls back; an idempotent statement) is retried after any transient
 * failure; other work (it adds something) only when the statement provably never ran.
 */
export function withDatabaseRetry<T>(work: () => Promise<T>, safe: "repeatable" | "once" = "repeatable"): Promise<T> {
  return (safe === "repeatable" ? transientRetry : unsentRetry).execute(work);
}
