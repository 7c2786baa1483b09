// What a user may spend on the model, and what they spent. A reply is admitted inside its send transaction: one
// locked read of the user decides it against today's charges, the tokens still held by the user's running replies
// and the cap on running replies, so parallel sends cannot all pass a nearly spent quota. The admitted reply holds
// a reservation (on its own row, so it ends with the reply, crash included) and every model call is charged as it
// ends: provider usage, else an estimate.
import type { Prisma, PrismaClient } from "../generated/prisma/client.ts";
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

type Transaction = Prisma.TransactionClient;

/** A user's spending as read under their row lock (see lockForReply). */
export interface UserSpending {
  used: number;
  reserved: number;
  running: number;
  now: Date;
}

export class UsageService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly policy: UsagePolicy,
  ) {}

  async today(userId: string, now = new Date()): Promise<DailyUsage> {
    const { used, reserved } = await this.read(this.prisma, userId, now);
    return this.usage(used, reserved, now);
  }

  /**
   * Locks the user's row for the rest of the send transaction and reads what admission needs, so the user's
   * concurrent sends are decided one after another, on every instance. Pass the result to `admitReply`.
   */
  async lockForReply(tx: Transaction, userId: string, now = new Date()): Promise<UserSpending> {
    // Its own statement: under READ COMMITTED a statement reads from the snapshot it started with, so the sums must be
    // read by the next one, after the lock is held, to see what the sends committed while this one waited.
    await tx.$executeRaw`SELECT 1 FROM "User" WHERE "id" = ${userId} FOR UPDATE`;
    return { ...(await this.read(tx, userId, now)), now };
  }

  /**
   * Admits one more reply, or throws REPLY_LIMIT_EXCEEDED / QUOTA_EXCEEDED; returns the tokens the reply reserves
   * (stored on its row, held until it ends).
   */
  admitReply({ used, reserved, running, now }: UserSpending): number {
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

  /** Adds what one model call used to the user's day; returns the day's new total. */
  async charge(userId: string, tokens: number, now = new Date()): Promise<number> {
    const day = utcDay(now);
    const row = await this.prisma.dailyTokenUsage.upsert({
      where: { userId_day: { userId, day } },
      create: { userId, day, tokens: Math.max(0, tokens) },
      update: { tokens: { increment: Math.max(0, tokens) } },
      select: { tokens: true },
    });
    return row.tokens;
  }

  /** True while the user may start another model call today (charges only; reservations are for admission). */
  isWithinLimit(tokensUsed: number): boolean {
    return tokensUsed < this.policy.dailyTokenLimit;
  }

  /** One round trip: today's charges, and the user's running replies with the tokens they hold. */
  private async read(db: Transaction | PrismaClient, userId: string, now: Date) {
    const rows = await db.$queryRaw<Array<{ used: number; reserved: number; running: number }>>`
      SELECT
        COALESCE((SELECT "tokens" FROM "DailyTokenUsage" WHERE "userId" = u."id" AND "day" = ${isoDay(now)}::date), 0)::int AS used,
        COALESCE(r."reserved", 0)::int AS reserved,
        COALESCE(r."running", 0)::int AS running
      FROM "User" u
      LEFT JOIN LATERAL (
        SELECT SUM(m."reservedTokens") AS reserved, COUNT(*) AS running
        FROM "Message" m JOIN "Session" s ON s."id" = m."sessionId"
        WHERE s."userId" = u."id" AND m."status" = 'STREAMING' AND m."role" = 'ASSISTANT'
      ) r ON true
      WHERE u."id" = ${userId}`;
    return rows[0] ?? { used: 0, reserved: 0, running: 0 };
  }

  private usage(used: number, reserved: number, now: Date): DailyUsage {
    return { tokensUsed: used, tokensReserved: reserved, tokenLimit: this.policy.dailyTokenLimit, resetsAt: nextUtcMidnight(now) };
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
