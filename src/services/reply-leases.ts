// Which instance runs each reply, and what becomes of replies whose instance died. A STREAMING reply row names its
// owner and when the owner last renewed it; the owner renews the replies it runs every lease/3, and every instance
// sweeps every lease/5 for replies whose lease ran out (the owner died or lost the database) and ends them
// INTERRUPTED with the text streamed so far and a final event. Time is the database's, so instances' clocks never
// disagree; a start touches only expired replies, never those another live instance runs.
import { randomUUID } from "node:crypto";
import { Prisma, type PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { ReplyEventBus } from "../persistence/events/reply-events.ts";

export const INTERRUPTED = {
  code: "INTERRUPTED",
  reason: "The server stopped while this reply was being generated.",
} as const;

/** What the lease loop asks of the instance's reply runner. */
export interface LeaseHolder {
  /** Replies this instance runs or has queued (their rows are STREAMING and owned here). */
  runningIds(): string[];
  /** Replies another instance ended after this one's lease ran out: stop them without storing or publishing. */
  lost(ids: string[]): void;
}

export interface ReplyLeaseOptions {
  /** REPLY_LEASE_MS: how long a reply stays owned without a renewal. */
  leaseMs: number;
  /** This process; random unless given (tests). */
  instanceId?: string;
}

export class ReplyLeases {
  readonly instanceId: string;
  private readonly leaseMs: number;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly prisma: PrismaClient,
    private readonly bus: ReplyEventBus,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    options: ReplyLeaseOptions,
  ) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.leaseMs = options.leaseMs;
  }

  /** Renews the holder's replies every lease/3 and recovers expired ones every lease/5, until `stop`. */
  start(holder: LeaseHolder): void {
    const every = (ms: number, work: () => Promise<unknown>) => {
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        work()
          .catch((error: unknown) => this.logger.warn({ err: error }, "reply lease upkeep failed (retried)"))
          .finally(() => (busy = false));
      }, ms);
      this.timers.push(timer.unref());
    };
    every(Math.max(100, Math.floor(this.leaseMs / 3)), async () => {
      const lost = await this.renew(holder.runningIds());
      if (lost.length > 0) {
        this.logger.warn({ count: lost.length }, "replies ended by another instance after this one's lease ran out");
        holder.lost(lost);
      }
    });
    every(Math.max(100, Math.floor(this.leaseMs / 5)), () => this.recoverExpired());
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  /** Renews this instance's leases on `ids`; returns those it no longer holds (ended elsewhere, or deleted). */
  async renew(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const held = await this.prisma.$queryRaw<Array<{ id: string }>>`
      UPDATE "Message" SET "leaseRenewedAt" = now()
      WHERE "id" IN (${Prisma.join(ids)}) AND "leaseOwner" = ${this.instanceId} AND "status" = 'STREAMING'
      RETURNING "id"`;
    const kept = new Set(held.map((row) => row.id));
    return ids.filter((id) => !kept.has(id));
  }

  /**
   * Ends replies whose lease ran out (of one session, or all), each with the text it had streamed (the event log's,
   * else the last one stored) and its final event: INTERRUPTED, or CANCELLED when its user asked to stop it.
   * Of several instances sweeping at once, exactly one ends each reply. Returns how many this call ended.
   */
  async recoverExpired({
    sessionId,
    as = "INTERRUPTED",
  }: {
    sessionId?: string;
    as?: "INTERRUPTED" | "CANCELLED";
  } = {}): Promise<number> {
    const expired = Prisma.sql`"status" = 'STREAMING' AND "leaseRenewedAt" < now() - ${this.leaseMs} * interval '1 millisecond'`;
    const candidates = await this.prisma.$queryRaw<Array<{ id: string; sessionId: string; content: string }>>`
      SELECT "id", "sessionId", "content" FROM "Message"
      WHERE ${expired} ${sessionId ? Prisma.sql`AND "sessionId" = ${sessionId}` : Prisma.empty}
      ORDER BY "leaseRenewedAt" LIMIT 100`;
    let ended = 0;
    for (const reply of candidates) {
      const streamed = await this.bus.latestReply(reply.sessionId).catch(() => undefined);
      const content = streamed?.messageId === reply.id ? streamed.text : reply.content;
      const failure = as === "INTERRUPTED" ? INTERRUPTED : undefined;
      const count = await this.prisma.$executeRaw`
        UPDATE "Message" SET
          "status" = CAST(${as} AS "MessageStatus"), "content" = ${content}, "completedAt" = now(), "leaseOwner" = NULL,
          "errorCode" = ${failure?.code ?? null}, "errorReason" = ${failure?.reason ?? null}
        WHERE "id" = ${reply.id} AND ${expired}`;
      if (count === 0) continue; // another instance got there first
      ended += 1;
      this.metrics.replies.inc({ status: as });
      if (failure) this.metrics.replyFailures.inc({ code: failure.code });
      const final = failure
        ? { type: "failed" as const, messageId: reply.id, ...failure }
        : { type: "cancelled" as const, messageId: reply.id };
      await this.bus.publish(reply.sessionId, final).catch((error: unknown) => {
        this.logger.error({ err: error, messageId: reply.id }, "could not publish a recovered reply's final event");
      });
      this.logger.warn(
        { messageId: reply.id, sessionId: reply.sessionId, status: as },
        "reply recovered after its instance's lease ran out",
      );
    }
    return ended;
  }
}
