// The one timer-or-abort race every layer uses (shutdown grace, recall's embedding, readiness checks, tool calls).
import { describe, expect, it } from "vitest";
import { isAbortError, untilAborted, withDeadline } from "./deadline.ts";

const never = new Promise<never>(() => undefined);

describe("withDeadline", () => {
  it("settles like the work when it finishes in time", async () => {
    await expect(withDeadline(Promise.resolve("done"), 1_000, () => "late")).resolves.toBe("done");
    await expect(withDeadline(Promise.reject(new Error("broke")), 1_000, () => "late")).rejects.toThrow("broke");
  });

  it("settles like onTimeout when the time runs out: its value, or what it throws", async () => {
    await expect(withDeadline(never, 5, () => "timeout" as const)).resolves.toBe("timeout");
    await expect(
      withDeadline(never, 5, () => {
        throw new Error("Timed out after 5 ms");
      }),
    ).rejects.toThrow("Timed out after 5 ms");
  });
});

describe("untilAborted", () => {
  it("rejects with the signal's reason at once, even when the work ignores the signal", async () => {
    const abort = new AbortController();
    const waiting = untilAborted(never, abort.signal);
    abort.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow("stop");
    await expect(untilAborted(never, AbortSignal.abort(new Error("already")))).rejects.toThrow("already");
  });

  it("settles like the work while the signal stays quiet", async () => {
    await expect(untilAborted(Promise.resolve(1), new AbortController().signal)).resolves.toBe(1);
  });
});

describe("isAbortError", () => {
  it("tells a signal's abort or timeout from a failure", () => {
    expect(isAbortError(AbortSignal.abort().reason)).toBe(true);
    expect(isAbortError(new DOMException("late", "TimeoutError"))).toBe(true);
    expect(isAbortError(new DOMException("bad", "SyntaxError"))).toBe(false);
    expect(isAbortError(Object.assign(new Error("aborted"), { name: "AbortError" }))).toBe(false);
  });
});
