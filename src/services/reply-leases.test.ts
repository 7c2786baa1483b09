// Reply leases on a real database (embedded PGlite; PostgreSQL too with TEST_DATABASE_URL): a renewed reply is never
// touched, an expired one is ended once (whoever sweeps) with the text its events add up to and a final event, and
// an owner that lost its lease learns it at its next renewal. The multi-process proof is test/instances.test.ts.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createThrowawayDatabase } from "../../test/support/throwaway-database.ts";
import { createLogger } from "../observability/logger.ts";
import { createMetrics } from "../observability/metrics.ts";
import { openDatabase, type Database } from "../persistence/database.ts";
import { MemoryReplyEventBus, type PublishedReplyEvent } from "../persistence/events/reply-events.ts";
import { ReplyLeases } from "./reply-leases.ts";

const testDatabaseUrl = process.env.TEST_DATABASE_URL;
const LEASE_MS = 1000;

describe.each(["pglite", ...(testDatabaseUrl ? ["postgresql"] : [])])("reply leases on %s", (kind) => {
  let database: Database;
  let cleanup: () => Promise<void>;
  const bus = new MemoryReplyEventBus(100);
  const logger = createLogger("silent");
  const metrics = createMetrics();
  const leases = (instanceId: string) =>
    new ReplyLeases(database.prisma, bus, logger, metrics, { leaseMs: LEASE_MS, instanceId });

  beforeAll(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "reply-leases-test-"));
    const server =
      kind === "postgresql" ? await createThrowawayDatabase(testDatabaseUrl!, { prefix: "leases_test" }) : undefined;
    database = await openDatabase({ url: server?.url, poolSize: 4, dataDir });
    cleanup = async () => {
      await database.close();
      await server?.drop();
      await rm(dataDir, { recursive: true, force: true });
    };
  });
  afterAll(async () => {
    await bus.close();
    await cleanup?.();
  });

  /** A session with one STREAMING reply owned by `owner`, last renewed `ageMs` ago (database time). */
  async function streamingReply(owner: string, ageMs: number, content = "stored so far") {
    const user = await database.prisma.user.create({
      data: { email: `${randomUUID()}@example.com`, passwordHash: "x" },
    });
    const session = await database.prisma.session.create({ data: { userId: user.id, name: "s" } });
    const reply = await database.prisma.message.create({
      data: { sessionId: session.id, role: "ASSISTANT", content, status: "STREAMING", leaseOwner: owner },
    });
    await database.prisma.$executeRaw`
      UPDATE "Message" SET "leaseRenewedAt" = now() - ${ageMs} * interval '1 millisecond' WHERE "id" = ${reply.id}`;
    return { sessionId: session.id, replyId: reply.id };
  }

  const row = (id: string) => database.prisma.message.findUniqueOrThrow({ where: { id } });

  it("ends an expired reply INTERRUPTED once, with the text its events add up to, and publishes its final event", async () => {
    const { sessionId, replyId } = await streamingReply("dead-instance", 5 * LEASE_MS);
    const live = await streamingReply("live-instance", 0);
    await bus.publish(sessionId, { type: "delta", messageId: replyId, delta: "streamed " });
    await bus.publish(sessionId, { type: "delta", messageId: replyId, delta: "further than stored" });
    const events = await bus.subscribe(sessionId);

    // Two instances sweep at once: exactly one ends it.
    const ended = await Promise.all([leases("a").recoverExpired(), leases("b").recoverExpired()]);
    expect(ended.reduce((sum, n) => sum + n, 0)).toBe(1);

    expect(await row(replyId)).toMatchObject({
      status: "INTERRUPTED",
      errorCode: "INTERRUPTED",
      content: "streamed further than stored",
      leaseOwner: null,
    });
    const final = (await events.next()).value as PublishedReplyEvent;
    expect(final).toMatchObject({ type: "failed", messageId: replyId, code: "INTERRUPTED" });
    await events.return();
    // The live instance's reply is not touched.
    expect(await row(live.replyId)).toMatchObject({ status: "STREAMING", leaseOwner: "live-instance" });
  });

  it("keeps what was stored when the event log knows nothing of the reply, and can end it CANCELLED for one session", async () => {
    const other = await streamingReply("dead-instance", 5 * LEASE_MS);
    const { sessionId, replyId } = await streamingReply("dead-instance", 5 * LEASE_MS, "only this was stored");
    expect(await leases("a").recoverExpired({ sessionId, as: "CANCELLED" })).toBe(1);
    expect(await row(replyId)).toMatchObject({ status: "CANCELLED", errorCode: null, content: "only this was stored" });
    expect(await row(other.replyId)).toMatchObject({ status: "STREAMING" });
  });

  it("renewing keeps a reply owned past its lease; an owner whose reply was ended elsewhere hears it is lost", async () => {
    const owner = leases("owner");
    const kept = await streamingReply("owner", LEASE_MS - 300);
    const ended = await streamingReply("owner", 5 * LEASE_MS);
    await leases("sweeper").recoverExpired();
    expect(await owner.renew([kept.replyId, ended.replyId])).toEqual([ended.replyId]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Past the lease it was created with, but renewed meanwhile.
    expect(await leases("sweeper").recoverExpired({ sessionId: kept.sessionId })).toBe(0);
    expect(await row(kept.replyId)).toMatchObject({ status: "STREAMING", leaseOwner: "owner" });
    // Another instance cannot renew what it does not own.
    expect(await leases("intruder").renew([kept.replyId])).toEqual([kept.replyId]);
  });
});
