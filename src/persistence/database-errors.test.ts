import { DriverAdapterError } from "@prisma/driver-adapter-utils";
import { describe, expect, it } from "vitest";
import { Prisma } from "../generated/prisma/client.ts";
import {
  isDatabaseError,
  isTransientDatabaseError,
  isUnsentDatabaseError,
  withDatabaseRetry,
} from "./database-errors.ts";

const prismaError = (code: string) => new Prisma.PrismaClientKnownRequestError("failed", { code, clientVersion: "7" });

describe("database error classification", () => {
  it("retries what may succeed in a moment, and only what never ran when the work is not repeatable", () => {
    for (const code of ["P1001", "P1017", "P2024", "P2028", "P2034"])
      expect(isTransientDatabaseError(prismaError(code)), code).toBe(true);
    expect(isTransientDatabaseError(prismaError("P2002"))).toBe(false); // a unique violation stays one
    const killed = Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });
    expect(isTransientDatabaseError(new Error("wrapped", { cause: killed }))).toBe(true);
    expect(isUnsentDatabaseError(prismaError("P2028"))).toBe(true);
    expect(isUnsentDatabaseError(killed)).toBe(false);
  });

  it("tells the database's failures from everyone else's (a reply fails STORAGE_ERROR, not LLM_ERROR)", () => {
    expect(isDatabaseError(prismaError("P2002"))).toBe(true);
    expect(isDatabaseError(new Error("outer", { cause: prismaError("P2025") }))).toBe(true);
    expect(
      isDatabaseError(
        new DriverAdapterError({
          kind: "postgres",
          code: "42P01",
          severity: "ERROR",
          message: "x",
          detail: undefined,
          column: undefined,
          hint: undefined,
        }),
      ),
    ).toBe(true);
    expect(isDatabaseError(new Error("HTTP 500 from the model"))).toBe(false);
  });
});

describe("withDatabaseRetry", () => {
  const failingOnce = (error: unknown) => {
    let calls = 0;
    const work = async () => {
      calls += 1;
      if (calls === 1) throw error;
      return "done";
    };
    return { work, calls: () => calls };
  };

  it("repeats repeatable work after a transient failure, and not after another", async () => {
    const killed = Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });
    const transient = failingOnce(killed);
    await expect(withDatabaseRetry(transient.work)).resolves.toBe("done");
    expect(transient.calls()).toBe(2);

    const violation = failingOnce(prismaError("P2002"));
    await expect(withDatabaseRetry(violation.work)).rejects.toMatchObject({ code: "P2002" });
    expect(violation.calls()).toBe(1);
  });

  it("repeats work that is not repeatable only when it provably never ran", async () => {
    const killed = Object.assign(new Error("terminating connection"), { code: "57P01" });
    const maybeRan = failingOnce(killed);
    await expect(withDatabaseRetry(maybeRan.work, "once")).rejects.toBe(killed);
    expect(maybeRan.calls()).toBe(1);

    const neverRan = failingOnce(prismaError("P2028"));
    await expect(withDatabaseRetry(neverRan.work, "once")).resolves.toBe("done");
    expect(neverRan.calls()).toBe(2);
  });
});
