// The per-user daily model-token quota: checked before a message is accepted, charged after each reply.
import type { PrismaClient } from "../generated/prisma/client.ts";
import { AppError } from "./errors.ts";

export interface DailyUsage {
  tokensUsed: number;
  tokenLimit: number;
  /** The next UTC midnight, when the count starts again from zero. */
  resetsAt: Date;
}

export class UsageService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly dailyTokenLimit: number,
  ) {}

  async today(userId: string, now = new Date()): Promise<DailyUsage> {
    const row = await this.prisma.dailyTokenUsage.findUnique({
      where: { userId_day: { userId, day: utcDay(now) } },
      select: { tokens: true },
    });
    return { tokensUsed: row?.tokens ?? 0, tokenLimit: this.dailyTokenLimit, resetsAt: nextUtcMidnight(now) };
  }

  /**
   * Refuses new work once today's tokens are spent. A reply already running may finish past the limit
   * (by at most LLM_MAX_OUTPUT_TOKENS per call): cutting it off mid-sentence would waste what was paid for.
   */
  async requireQuota(userId: string): Promise<void> {
    const usage = await this.today(userId);
    if (usage.tokensUsed < usage.tokenLimit) return;
    throw new AppError("QUOTA_EXCEEDED", `Today's model token quota (${usage.tokenLimit}) is used up`, {
      tokensUsed: usage.tokensUsed,
      tokenLimit: usage.tokenLimit,
      resetsAt: usage.resetsAt.toISOString(),
    });
  }

  async charge(userId: string, tokens: number, now = new Date()): Promise<void> {
    if (tokens <= 0) return;
    const day = utcDay(now);
    await this.prisma.dailyTokenUsage.upsert({
      where: { userId_day: { userId, day } },
      create: { userId, day, tokens },
      update: { tokens: { increment: tokens } },
    });
  }
}

function utcDay(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

function nextUtcMidnight(now: Date): Date {
  return new Date(utcDay(now).getTime() + 24 * 3600 * 1000);
}
