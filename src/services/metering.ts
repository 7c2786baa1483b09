// Charges a user for model calls as they end, and stops a run once the user's day is spent.
import type { ModelMeter, ModelUsage } from "../agent/reply-agent.ts";
import type { Logger } from "../observability/logger.ts";
import type { UsageService } from "./usage.ts";

/** Thrown before a model call the user can no longer pay for; the run ends QUOTA_EXCEEDED. */
export class QuotaSpentError extends Error {
  override readonly name = "QuotaSpentError";

  constructor() {
    super("Today's model token quota ran out while this reply was being written");
  }
}

export class UsageMeter implements ModelMeter {
  inputTokens = 0;
  outputTokens = 0;
  /** Requests the provider answered (retries included). */
  calls = 0;
  private readonly charges: Promise<void>[] = [];
  /** The user's total today after the latest charge; unknown until one lands. */
  private dayTotal: number | undefined;
  private modelCalls = 0;

  /**
   * `admitted`: the run's first model call was already admitted (a reply, through its reservation); otherwise
   * (memory extraction) every call is checked against today's usage first.
   */
  constructor(
    private readonly usage: UsageService,
    private readonly userId: string,
    private readonly logger: Logger,
    private readonly options: { admitted: boolean },
  ) {}

  record(usage: ModelUsage): void {
    this.calls += 1;
    this.inputTokens += usage.inputTokens;
    this.outputTokens += usage.outputTokens;
    const charge = this.usage.charge(this.userId, usage.inputTokens + usage.outputTokens).then(
      (total) => void (this.dayTotal = Math.max(total, this.dayTotal ?? 0)),
      (error: unknown) => this.logger.error({ err: error, userId: this.userId, usage }, "could not record token usage"),
    );
    this.charges.push(charge);
  }

  async beforeModelCall(): Promise<void> {
    const first = this.modelCalls++ === 0;
    if (first && this.options.admitted) return;
    await this.settled();
    const total = this.dayTotal ?? (await this.usage.today(this.userId)).tokensUsed;
    if (!this.usage.isWithinLimit(total)) throw new QuotaSpentError();
  }

  /** Resolves once every charge so far is stored (or logged as failed). */
  async settled(): Promise<void> {
    await Promise.all(this.charges);
  }
}
