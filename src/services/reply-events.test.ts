// The reply event bus, in-process and on Redis (with TEST_REDIS_URL): per-session cursors, exact replay-then-live,
// replays that merge a reply's deltas, and logs that start again under a new generation.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { connectRedis, RedisReplyEventBus } from "./redis-reply-events.ts";
import { MemoryReplyEventBus, parseCursor, type PublishedReplyEvent, type ReplyEventBus } from "./reply-events.ts";

const RETENTION = 50;
const prefix = `test-${randomUUID()}`;
const redisUrl = process.env.TEST_REDIS_URL;

const buses: ReplyEventBus[] = [];
afterAll(async () => {
  await Promise.all(buses.map((bus) => bus.close()));
});

const kinds: Array<[string, () => ReplyEventBus]> = [
  ["memory", () => new MemoryReplyEventBus(RETENTION)],
  ...(redisUrl ? [["redis", () => new RedisReplyEventBus(connectRedis(redisUrl), RETENTION, prefix)] as [string, () => ReplyEventBus]] : []),
];

const delta = (messageId: string, text: string) => ({ type: "delta" as const, messageId, delta: text });

/**
 * A subscription that has begun listening (a generator runs its body up to the first event on the first `next`,
 * so that is asked for at once); `take` reads the next `count` events.
 */
function subscribe(bus: ReplyEventBus, sessionId: string, after?: string) {
  const subscription = bus.subscribe(sessionId, { after });
  let started: Promise<IteratorResult<PublishedReplyEvent>> | undefined = subscription.next();
  return {
    async take(count: number): Promise<PublishedReplyEvent[]> {
      const events: PublishedReplyEvent[] = [];
      while (events.length < count) {
        const result = await (started ?? subscription.next());
        started = undefined;
        if (result.done) break;
        events.push(result.value);
      }
      return events;
    },
    close: () => subscription.return(undefined),
  };
}

describe.each(kinds)("%s reply event bus", (_kind, create) => {
  const bus = create();
  buses.push(bus);

  it("numbers each session's events on its own: other sessions' traffic shows in no cursor", async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const headB = await bus.head(b);
    expect(parseCursor(headB)?.seq).toBe(0);
    for (let i = 0; i < 5; i++) await bus.publish(a, delta("m", `a${i}`));
    const first = await bus.publish(b, delta("m", "b0"));
    expect(parseCursor(first.cursor)).toEqual({ generation: parseCursor(headB)!.generation, seq: 1 });
    expect(parseCursor(await bus.head(a))?.seq).toBe(5);
    expect(parseCursor(await bus.head(b))?.seq).toBe(1);
  });

  it("replays after a cursor, then goes live, with no gap and no duplicate, runs of deltas merged", async () => {
    const sessionId = randomUUID();
    const start = await bus.head(sessionId);
    const published = [
      await bus.publish(sessionId, delta("m1", "Hel")),
      await bus.publish(sessionId, delta("m1", "lo")),
      await bus.publish(sessionId, delta("m1", " wor")),
      await bus.publish(sessionId, { type: "toolStarted", messageId: "m1", toolCallId: "t", name: "x", arguments: {} }),
      await bus.publish(sessionId, delta("m1", "ld")),
      await bus.publish(sessionId, delta("m1", "!")),
      await bus.publish(sessionId, { type: "restarted", messageId: "m1", reason: "retry" }),
      await bus.publish(sessionId, delta("m1", "Hi")),
      await bus.publish(sessionId, delta("m2", "other")),
    ];
    const subscription = subscribe(bus, sessionId, start);
    const replayed = await subscription.take(6);
    expect(replayed.map((event) => [event.type, event.type === "delta" ? event.delta : "", event.cursor])).toEqual([
      ["delta", "Hello wor", published[2]!.cursor],
      ["toolStarted", "", published[3]!.cursor],
      ["delta", "ld!", published[5]!.cursor],
      ["restarted", "", published[6]!.cursor],
      ["delta", "Hi", published[7]!.cursor],
      ["delta", "other", published[8]!.cursor],
    ]);
    const live = await bus.publish(sessionId, delta("m2", " live"));
    expect(await subscription.take(1)).toEqual([live]);
    await subscription.close();

    // Resuming from the middle of a run replays the rest of it, merged.
    const resumed = subscribe(bus, sessionId, published[0]!.cursor);
    expect((await resumed.take(1))[0]).toMatchObject({ type: "delta", delta: "lo wor", cursor: published[2]!.cursor });
    await resumed.close();
  });

  it("delivers events published while a subscription starts exactly once", async () => {
    const sessionId = randomUUID();
    const start = await bus.head(sessionId);
    const publishing = (async () => {
      const events: PublishedReplyEvent[] = [];
      for (let i = 0; i < 40; i++) events.push(await bus.publish(sessionId, i % 10 === 9 ? { type: "completed", messageId: `m${i}` } : delta(`m${i - (i % 10)}`, `${i},`)));
      return events;
    })();
    const subscription = subscribe(bus, sessionId, start);
    const all = await publishing;
    const received: PublishedReplyEvent[] = [];
    while (received.at(-1)?.cursor !== all.at(-1)!.cursor) received.push(...(await subscription.take(1)));
    await subscription.close();
    const text = (events: PublishedReplyEvent[]) => events.map((event) => (event.type === "delta" ? event.delta : `|${event.type}|`)).join("");
    expect(text(received)).toBe(text(all));
  });

  it("replays everything retained for a cursor it cannot read", async () => {
    const sessionId = randomUUID();
    await bus.publish(sessionId, delta("m", "a"));
    await bus.publish(sessionId, delta("m", "b"));
    for (const after of ["12345", "not-a-cursor", "zz:1"]) {
      const subscription = subscribe(bus, sessionId, after);
      expect(await subscription.take(1)).toMatchObject([{ type: "delta", delta: "ab" }]);
      await subscription.close();
    }
  });
});

describe("a session log started again never reuses a cursor", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("memory: a swept log gets a new generation; an old cursor replays the new log from its start", async () => {
    vi.useFakeTimers({ toFake: ["Date", "setInterval", "clearInterval"] });
    const bus = new MemoryReplyEventBus(RETENTION);
    const sessionId = randomUUID();
    const old = await bus.publish(sessionId, delta("m", "old"));
    await bus.publish(sessionId, delta("m", "older"));
    vi.advanceTimersByTime(16 * 60_000);
    const fresh = await bus.publish(sessionId, delta("m2", "new"));
    expect(parseCursor(fresh.cursor)?.seq).toBe(1);
    expect(parseCursor(fresh.cursor)?.generation).not.toBe(parseCursor(old.cursor)?.generation);
    vi.useRealTimers();
    const subscription = subscribe(bus, sessionId, old.cursor);
    expect(await subscription.take(1)).toMatchObject([{ type: "delta", delta: "new", cursor: fresh.cursor }]);
    await subscription.close();
    await bus.close();
  });

  it.skipIf(!redisUrl)("redis: an expired log gets a new generation, and a live subscriber still gets its events", async () => {
    const bus = new RedisReplyEventBus(connectRedis(redisUrl!), RETENTION, prefix);
    const admin = new Redis(redisUrl!);
    try {
      const sessionId = randomUUID();
      for (let i = 0; i < 3; i++) await bus.publish(sessionId, delta("m", `${i}`));
      const last = await bus.publish(sessionId, { type: "completed", messageId: "m" });
      const subscription = subscribe(bus, sessionId, last.cursor);
      // What the TTL does after 15 idle minutes.
      await admin.del(`${prefix}:reply-events:meta:${sessionId}`, `${prefix}:reply-events:events:${sessionId}`);
      const fresh = await bus.publish(sessionId, delta("m2", "new"));
      expect(parseCursor(fresh.cursor)?.seq).toBe(1);
      expect(parseCursor(fresh.cursor)?.generation).not.toBe(parseCursor(last.cursor)?.generation);
      expect(await subscription.take(1)).toEqual([fresh]);
      await subscription.close();
      const resumed = subscribe(bus, sessionId, last.cursor);
      expect(await resumed.take(1)).toEqual([fresh]);
      await resumed.close();
      expect(await admin.ttl(`${prefix}:reply-events:meta:${sessionId}`)).toBeGreaterThan(0);
    } finally {
      admin.disconnect();
      await bus.close();
    }
  });
});
