// Charges a user for model calls, and stops a run once the user's day is spent. A call's tokens are charged before
// the next call may start and, for the last one, in the reply's final write (one statement, see ReplyService): a
// round trip per call saved, nothing left uncharged.
import type { ModelMeter, ModelUsage } from "../agent/reply-agent.ts";
import type { UsageService } from "./usage.ts";

/** Thrown before a model call the user can no longer pay for; the run ends QUOTA_EXCEEDED. */
export class QuotaSpentError extends Error {
  override readonly name = "QuotaSpentError";

  constructor() {
    super("Today's model token quota ran out while this reply was being written");
  }
}

export interface UsageMeterOptions {
  /**
   * The run's first model call was already admitted (a reply, through its reservation); otherwise (memory
   * extraction) every call is checked against today's usage first.
   */
  admitted: boolean;
  /** The user's total today when known (say, right after a reply was charged): spares reading it. */
  dayTotal?: number;
}

export class UsageMeter implements ModelMeter {
  inputTokens = 0;
  outputTokens = 0;
  /** Requests the provider answered (retries included). */
  calls = 0;
  /** Recorded but not yet charged. */
  private pending = 0;
  /** The user's total today after the latest charge; unknown until one lands. */
  private dayTotal: number | undefined;
  private modelCalls = 0;

  constructor(
    private readonly usage: UsageService,
    private readonly userId: string,
    private readonly options: UsageMeterOptions,
  ) {
    this.dayTotal = options.dayTotal;
  }

  record(usage: ModelUsage): void {
    this.calls += 1;
    this.inputTokens += usage.inputTokens;
    this.outputTokens += usage.outputTokens;
    this.pending += Math.max(0, usage.inputTokens + usage.outputTokens);
  }

  async beforeModelCall(): Promise<void> {
    const first = this.modelCalls++ === 0;
    if (first && this.options.admitted) return;
    await this.flush();
    const total = this.dayTotal ?? (await this.usage.today(this.userId)).tokensUsed;
    if (!this.usage.isWithinLimit(total)) throw new QuotaSpentError();
  }

  /** Charges what was recorded since the last charge. */
  async flush(): Promise<void> {
    const tokens = this.takePending();
    if (tokens > 0) this.chargedUpTo(await this.usage.charge(this.userId, tokens));
  }

  /** What is left to charge, handed to a caller that charges it in a statement of its own (then `chargedUpTo`). */
  takePending(): number {
    const tokens = this.pending;
    this.pending = 0;
    return tokens;
  }

  /** The user's day total after a charge made for this meter. */
  chargedUpTo(total: number): void {
    this.dayTotal = total;
  }

  /** The user's total today as of the latest charge, if any was made or known. */
  get knownDayTotal(): number | undefined {
    return this.dayTotal;
  }
}
