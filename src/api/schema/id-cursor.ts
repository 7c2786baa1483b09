import { decodeBase64, decodeCursorChunk, PothosValidationError } from "@pothos/core";

/**
 * A connection's `query` for cursors that hold a row id: Pothos hands any well-formed cursor to Prisma as is, so one
 * holding another type (an old position cursor, or a made-up one) would fail there as an internal error. Refused as
 * bad input instead, before the query runs.
 */
export function idCursorQuery<T>(query: T) {
  return ({ after, before }: { after?: string | null; before?: string | null; [arg: string]: unknown }): T => {
    requireIdCursor(after);
    requireIdCursor(before);
    return query;
  };
}

function requireIdCursor(cursor: unknown): void {
  if (cursor == null) return;
  let id: unknown;
  try {
    if (typeof cursor !== "string") throw new TypeError("not a string");
    const decoded = decodeBase64(cursor);
    id = decoded.startsWith("GPC:") ? decodeCursorChunk(decoded.slice(4)) : undefined;
  } catch {
    id = undefined;
  }
  if (typeof id !== "string") throw new PothosValidationError(`Invalid cursor: ${String(cursor)}`);
}
