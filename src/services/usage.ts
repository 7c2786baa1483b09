// What a user may spend on the model, and what they spent. A reply is admitted inside its send transaction: under a
// lock on the user's row, one read decides it against today's charges, the tokens still held by the user's running
// replies and the cap on running replies, so parallel sends cannot all pass a nearly spent quota. The admitted reply
// holds a reservation (on its own row, so it ends with the reply, crash included) and every model call is charged
// as it ends: provider usage, else an estimate.
import { Prisma, type PrismaClient } from "../generated/prisma/client.ts";
import { AppError } from "./errors.ts";

export interface DailyUsage {
  tokensUsed: number;
  /** Held by the user's replies still being written; released as each one ends. */
  tokensReserved: number;
  tokenLimit: number;
  /** The next UTC midnight, when the count starts again from zero. */
  resetsAt: Date;
}

export interface UsagePolicy {
  /** LLM_DAILY_TOKEN_LIMIT: tokens (input + output) one user may spend per UTC day. */
  dailyTokenLimit: number;
  /** Held per reply while it runs (at most what is left today): about one full model call's worth. */
  reservationPerReply: number;
  /** MAX_CONCURRENT_REPLIES_PER_USER: replies one user may have running (or queued) at once. */
  maxConcurrentReplies: number;
}

/** A user's spending today, as `spendingSql` reads it. */
export interface UserSpending {
  used: number;
  reserved: number;
  running: number;
}

type Database = Prisma.TransactionClient | PrismaClient;

export class UsageService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly policy: UsagePolicy,
  ) {}

  async today(userId: string, now = new Date()): Promise<DailyUsage> {
    const [spending] = await this.prisma.$queryRaw<UserSpending[]>`${this.spendingSql(userId, now)}`;
    return this.usage(spending?.used ?? 0, spending?.reserved ?? 0, now);
  }

  /**
   * Locks the user's row until the transaction ends, so the user's concurrent sends are decided one after another
   * on every instance. Its own statement: under READ COMMITTED a statement reads from the snapshot it started with,
   * so what admission reads must come in the next one, to see what the sends committed while this one waited.
   */
  async lockUser(tx: Prisma.TransactionClient, userId: string): Promise<void> {
    await tx.$executeRaw`SELECT 1 FROM "User" WHERE "id" = ${userId} FOR UPDATE`;
  }

  /** A query of one row (`used`, `reserved`, `running`: see UserSpending), for statements that need it. */
  spendingSql(userId: string, now = new Date()): Prisma.Sql {
    return Prisma.sql`
      SELECT
        COALESCE((SELECT "tokens" FROM "DailyTokenUsage" WHERE "userId" = ${userId} AND "day" = ${isoDay(now)}::date), 0)::int AS "used",
        COALESCE(SUM(m."reservedTokens"), 0)::int AS "reserved",
        COUNT(m."id")::int AS "running"
      FROM "Message" m JOIN "Session" s ON s."id" = m."sessionId"
      WHERE s."userId" = ${userId} AND m."status" = 'STREAMING' AND m."role" = 'ASSISTANT'`;
  }

  /**
   * Admits one more reply, or throws REPLY_LIMIT_EXCEEDED / QUOTA_EXCEEDED; returns the tokens the reply reserves
   * (stored on its row, held until it ends). Decide on a `spending` read under `lockUser`.
   */
  admitReply({ used, reserved, running }: UserSpending, now = new Date()): number {
    if (running >= this.policy.maxConcurrentReplies) {
      throw new AppError(
        "REPLY_LIMIT_EXCEEDED",
        `You already have ${running} replies being written (the limit is ${this.policy.maxConcurrentReplies}); wait for one to finish or cancel it`,
        { limit: this.policy.maxConcurrentReplies, activeReplies: running },
      );
    }
    const remaining = this.policy.dailyTokenLimit - used - reserved;
    if (remaining <= 0) {
      const usage = this.usage(used, reserved, now);
      throw new AppError("QUOTA_EXCEEDED", `Today's model token quota (${usage.tokenLimit}) is used up`, {
        tokensUsed: usage.tokensUsed,
        tokensReserved: usage.tokensReserved,
        tokenLimit: usage.tokenLimit,
        resetsAt: usage.resetsAt.toISOString(),
      });
    }
    return Math.min(this.policy.reservationPerReply, remaining);
  }

  /** Adds what model calls used to the user's day; returns the day's new total. */
  async charge(userId: string, tokens: number, db: Database = this.prisma, now = new Date()): Promise<number> {
    const [row] = await db.$queryRaw<
      Array<{ tokens: number }>
    >`${this.chargeSql(userId, tokens, Prisma.sql`true`, now)}`;
    return row?.tokens ?? 0;
  }

  /**
   * The charge as one statement (`RETURNING "tokens"`, the day's new total; no row when `when` is false), so a caller
   * can make it part of a statement of its own: a reply's final write carries its last charge.
   */
  chargeSql(userId: string, tokens: number, when: Prisma.Sql = Prisma.sql`true`, now = new Date()): Prisma.Sql {
    return Prisma.sql`
      INSERT INTO "DailyTokenUsage" ("userId", "day", "tokens")
      SELECT ${userId}, ${isoDay(now)}::date, ${Math.max(0, tokens)} WHERE ${when}
      ON CONFLICT ("userId", "day") DO UPDATE SET "tokens" = "DailyTokenUsage"."tokens" + EXCLUDED."tokens"
      RETURNING "tokens"`;
  }

  /** True while the user may start another model call today (charges only; reservations are for admission). */
  isWithinLimit(tokensUsed: number): boolean {
    return tokensUsed < this.policy.dailyTokenLimit;
  }

  private usage(used: number, reserved: number, now: Date): DailyUsage {
    return {
      tokensUsed: used,
      tokensReserved: reserved,
      tokenLimit: this.policy.dailyTokenLimit,
      resetsAt: nextUtcMidnight(now),
    };
  }
}

function utcDay(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/** YYYY-MM-DD of the UTC day: compared as a date, whatever the database's time zone. */
function isoDay(now: Date): string {
  return utcDay(now).toISOString().slice(0, 10);
}

function nextUtcMidnight(now: Date): Date {
  return new Date(utcDay(now).getTime() + 24 * 3600 * 1000);
}
