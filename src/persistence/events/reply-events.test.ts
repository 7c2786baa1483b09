// The reply event bus, in-process and on Redis (with TEST_REDIS_URL): per-session cursors, exact replay-then-live,
// replays that merge a reply's deltas, logs that start again under a new generation, and subscriptions that let go
// of everything the moment they end, merge what a slow reader has not read, and end when it falls too far behind.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { connectRedis, RedisSubscriber } from "./redis-connections.ts";
import { RedisReplyEventBus } from "./redis-reply-events.ts";
import {
  MemoryReplyEventBus,
  parseCursor,
  type PublishedReplyEvent,
  type ReplyStreamEvent,
  type ReplyEvent,
  type ReplyEventBus,
  type ReplyEventBusOptions,
  type ReplyStreamItem,
} from "./reply-events.ts";

const RETENTION = 50;
const prefix = `test-${randomUUID()}`;
const redisUrl = process.env.TEST_REDIS_URL;

const buses: ReplyEventBus[] = [];
const connections: Array<{ close(): Promise<unknown> }> = [];
afterAll(async () => {
  await Promise.all(buses.map((bus) => bus.close()));
  await Promise.all(connections.map((connection) => connection.close()));
});

/** A Redis bus on connections of its own (an instance's: one for commands, one subscriber), closed after all. */
function redisBus(options?: ReplyEventBusOptions): RedisReplyEventBus {
  const redis = connectRedis(redisUrl!);
  const subscriber = new RedisSubscriber(redis);
  connections.push(subscriber, { close: () => redis.quit() });
  return new RedisReplyEventBus(redis, subscriber, RETENTION, prefix, options);
}

type CreateBus = (options?: ReplyEventBusOptions) => ReplyEventBus;
const kinds: Array<[string, CreateBus]> = [
  ["memory", (options) => new MemoryReplyEventBus(RETENTION, options)],
  ...(redisUrl ? [["redis", (options) => redisBus(options)] as [string, CreateBus]] : []),
];

const delta = (messageId: string, text: string) => ({ type: "delta" as const, messageId, delta: text });

/** A subscription (listening once `subscribe` resolves); `take` reads the next `count` events. */
async function subscribe(bus: ReplyEventBus, sessionId: string, after?: string) {
  const subscription = await bus.subscribe(sessionId, { after });
  return {
    async take(count: number): Promise<ReplyStreamEvent[]> {
      const events: ReplyStreamEvent[] = [];
      while (events.length < count) {
        const result = await subscription.next();
        if (result.done) break;
        if (result.value.type === "overflow") throw new Error("overflow");
        events.push(result.value);
      }
      return events;
    },
    close: () => subscription.return(),
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
    const subscription = await subscribe(bus, sessionId, start);
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
    const resumed = await subscribe(bus, sessionId, published[0]!.cursor);
    expect((await resumed.take(1))[0]).toMatchObject({ type: "delta", delta: "lo wor", cursor: published[2]!.cursor });
    await resumed.close();
  });

  it("delivers events published while a subscription starts exactly once", async () => {
    const sessionId = randomUUID();
    const start = await bus.head(sessionId);
    const publishing = (async () => {
      const events: PublishedReplyEvent[] = [];
      for (let i = 0; i < 40; i++)
        events.push(
          await bus.publish(
            sessionId,
            i % 10 === 9 ? { type: "completed", messageId: `m${i}` } : delta(`m${i - (i % 10)}`, `${i},`),
          ),
        );
      return events;
    })();
    const subscription = await subscribe(bus, sessionId, start);
    const all = await publishing;
    const received: ReplyStreamEvent[] = [];
    while (received.at(-1)?.cursor !== all.at(-1)!.cursor) received.push(...(await subscription.take(1)));
    await subscription.close();
    const text = (events: ReplyStreamEvent[]) =>
      events.map((event) => (event.type === "delta" ? event.delta : `|${event.type}|`)).join("");
    expect(text(received)).toBe(text(all));
  });

  it("a cursor it cannot read (or of another log) gets a snapshot of the latest reply, never a partial replay", async () => {
    const sessionId = randomUUID();
    await bus.publish(sessionId, delta("m", "a"));
    const b = await bus.publish(sessionId, delta("m", "b"));
    for (const after of ["12345", "not-a-cursor", "zz:1"]) {
      const subscription = await subscribe(bus, sessionId, after);
      expect(await subscription.take(1)).toEqual([
        { type: "snapshot", sessionId, messageId: "m", text: "ab", cursor: b.cursor },
      ]);
      await subscription.close();
    }
  });

  it("a cursor older than the retained events gets one snapshot with the whole text, and live deltas continue it", async () => {
    const sessionId = randomUUID();
    await bus.publish(sessionId, delta("old", "gone"));
    const start = await bus.publish(sessionId, { type: "completed", messageId: "old" });
    await bus.publish(sessionId, delta("m", "lost start "));
    await bus.publish(sessionId, { type: "restarted", messageId: "m", reason: "retry" });
    let text = "";
    for (let i = 0; i < RETENTION + 10; i++) {
      text += `${i},`;
      await bus.publish(sessionId, delta("m", `${i},`));
    }
    const subscription = await subscribe(bus, sessionId, start.cursor);
    const [snapshot] = await subscription.take(1);
    expect(snapshot).toMatchObject({ type: "snapshot", messageId: "m", text });
    const later = await bus.publish(sessionId, delta("m", "more"));
    expect(await subscription.take(1)).toEqual([later]);
    expect(parseCursor(later.cursor)!.seq).toBe(parseCursor(snapshot!.cursor)!.seq + 1);
    await subscription.close();
    // A cursor still inside the retained tail replays as before: no snapshot.
    const recent = await subscribe(bus, sessionId, snapshot!.cursor);
    expect(await recent.take(1)).toEqual([later]);
    await recent.close();
  });

  it("with a log that knows no reply, the snapshot comes from latestReply (the database), else nothing", async () => {
    const sessionId = randomUUID();
    const known = create({
      latestReply: async (id) => (id === sessionId ? { messageId: "stored", text: "as stored" } : undefined),
    });
    buses.push(known);
    const subscription = await subscribe(known, sessionId, "zz:7");
    expect(await subscription.take(1)).toMatchObject([{ type: "snapshot", messageId: "stored", text: "as stored" }]);
    await subscription.close();
    const other = randomUUID();
    const none = await subscribe(known, other, "zz:7");
    const live = await known.publish(other, delta("n", "x"));
    expect(await none.take(1)).toEqual([live]);
    await none.close();
  });
});

describe("a session log started again never reuses a cursor", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("memory: a swept log gets a new generation; an old cursor gets a snapshot of the new log's reply", async () => {
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
    const subscription = await subscribe(bus, sessionId, old.cursor);
    expect(await subscription.take(1)).toMatchObject([
      { type: "snapshot", messageId: "m2", text: "new", cursor: fresh.cursor },
    ]);
    await subscription.close();
    await bus.close();
  });

  it.skipIf(!redisUrl)(
    "redis: an expired log gets a new generation, and a live subscriber still gets its events",
    async () => {
      const bus = redisBus();
      const admin = new Redis(redisUrl!);
      try {
        const sessionId = randomUUID();
        for (let i = 0; i < 3; i++) await bus.publish(sessionId, delta("m", `${i}`));
        const last = await bus.publish(sessionId, { type: "completed", messageId: "m" });
        const subscription = await subscribe(bus, sessionId, last.cursor);
        // What the TTL does after 15 idle minutes.
        await admin.del(...["meta", "events", "text"].map((key) => `${prefix}:reply-events:${key}:${sessionId}`));
        const fresh = await bus.publish(sessionId, delta("m2", "new"));
        expect(parseCursor(fresh.cursor)?.seq).toBe(1);
        expect(parseCursor(fresh.cursor)?.generation).not.toBe(parseCursor(last.cursor)?.generation);
        expect(await subscription.take(1)).toEqual([fresh]);
        await subscription.close();
        const resumed = await subscribe(bus, sessionId, last.cursor);
        expect(await resumed.take(1)).toEqual([
          { type: "snapshot", sessionId, messageId: "m2", text: "new", cursor: fresh.cursor },
        ]);
        await resumed.close();
        expect(await admin.ttl(`${prefix}:reply-events:meta:${sessionId}`)).toBeGreaterThan(0);
      } finally {
        admin.disconnect();
        await bus.close();
      }
    },
  );
});

/** Redis's own count of this session's live channel subscribers (0 or 1 per instance), or 0 without Redis. */
async function redisSubscribers(admin: Redis | undefined, sessionId: string): Promise<number> {
  if (!admin) return 0;
  const [, count] = (await admin.pubsub("NUMSUB", `${prefix}:reply-events:live:${sessionId}`)) as [string, number];
  return Number(count);
}

/** Each run of one message's consecutive deltas as one delta, without cursors: what a reader can rely on. */
function joinRuns(events: ReplyEvent[]): ReplyEvent[] {
  const joined: ReplyEvent[] = [];
  for (const { type, messageId, ...rest } of events) {
    const event = { type, messageId, ...rest } as ReplyEvent;
    delete (event as Partial<PublishedReplyEvent>).cursor;
    delete (event as Partial<PublishedReplyEvent>).sessionId;
    const last = joined.at(-1);
    if (event.type === "delta" && last?.type === "delta" && last.messageId === event.messageId)
      last.delta += event.delta;
    else joined.push(event);
  }
  return joined;
}

const toolStarted = (messageId: string, toolCallId: string): ReplyEvent => ({
  type: "toolStarted",
  messageId,
  toolCallId,
  name: "x",
  arguments: {},
});

describe.each(kinds)("%s subscriptions", (kind, create) => {
  const bus = create({ maxPendingEvents: 5 });
  buses.push(bus);
  const admin = kind === "redis" ? new Redis(redisUrl!) : undefined;
  afterAll(() => admin?.disconnect());

  it("return() while next() waits answers it with done and lets go of the listener at once, without another event", async () => {
    const sessionId = randomUUID();
    const subscription = await bus.subscribe(sessionId, { after: await bus.head(sessionId) });
    const waiting = subscription.next();
    expect(bus.listenerCount(sessionId)).toBe(1);
    expect(await redisSubscribers(admin, sessionId)).toBe(admin ? 1 : 0);

    const returned = subscription.return();
    // Synchronously: no event, no tick in between.
    expect(bus.listenerCount(sessionId)).toBe(0);
    expect(await returned).toEqual({ done: true, value: undefined });
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(await subscription.next()).toEqual({ done: true, value: undefined });
    // The UNSUBSCRIBE went out with the return: Redis agrees as soon as it has read it (another connection asks).
    await expect.poll(() => redisSubscribers(admin, sessionId), { timeout: 1000, interval: 20 }).toBe(0);

    // Two local subscriptions share the channel: it stays subscribed until the last one ends.
    const [a, b] = [await bus.subscribe(sessionId), await bus.subscribe(sessionId)];
    expect(bus.listenerCount(sessionId)).toBe(2);
    await a.return();
    expect(await redisSubscribers(admin, sessionId)).toBe(admin ? 1 : 0);
    const event = await bus.publish(sessionId, delta("m", "still live"));
    expect(await b.next()).toEqual({ done: false, value: event });
    await b.return();
    expect(bus.listenerCount(sessionId)).toBe(0);
    await expect.poll(() => redisSubscribers(admin, sessionId), { timeout: 1000, interval: 20 }).toBe(0);
  });

  it("merges a slow reader's waiting deltas of one message, keeps everything else, and changes no shared event", async () => {
    const sessionId = randomUUID();
    const subscription = await bus.subscribe(sessionId);
    const published: PublishedReplyEvent[] = [];
    for (let i = 0; i < 30; i++) published.push(await bus.publish(sessionId, delta("m1", `${i},`)));
    published.push(await bus.publish(sessionId, toolStarted("m1", "t")));
    for (let i = 0; i < 20; i++) published.push(await bus.publish(sessionId, delta("m1", `${i};`)));
    for (let i = 0; i < 3; i++) published.push(await bus.publish(sessionId, delta("m2", `${i}`)));
    published.push(await bus.publish(sessionId, { type: "completed", messageId: "m2" }));

    const received: ReplyStreamItem[] = [];
    for (let i = 0; i < 5; i++) received.push((await subscription.next()).value!);
    await subscription.return();
    const text = (from: number, to: number) =>
      published
        .slice(from, to)
        .map((e) => (e.type === "delta" ? e.delta : ""))
        .join("");
    expect(received).toEqual([
      { ...published[29], delta: text(0, 30) },
      published[30],
      { ...published[50], delta: text(31, 51) },
      { ...published[53], delta: text(51, 54) },
      published[54],
    ]);
    // Each merged delta carries the last cursor of its run, so resuming from it repeats nothing.
    expect(received.map((item) => (item.type === "overflow" ? "" : item.cursor))).toEqual(
      [29, 30, 50, 53, 54].map((i) => published[i]!.cursor),
    );
    expect(published.slice(0, 3).map((e) => (e.type === "delta" ? e.delta : ""))).toEqual(["0,", "1,", "2,"]);
  });

  it("a reader that falls too far behind is ended at once (listener released), told where to resume, and the resume is exact", async () => {
    const sessionId = randomUUID();
    const subscription = await bus.subscribe(sessionId, { after: await bus.head(sessionId) });
    const first = await bus.publish(sessionId, toolStarted("m", "t0"));
    expect(await subscription.next()).toEqual({ done: false, value: first });
    const published = [first];
    // Deltas of one message merge into one waiting item; events that cannot merge count: the cap is 5.
    for (let i = 1; i <= 5; i++) {
      published.push(await bus.publish(sessionId, delta("m", `${i}a`)));
      published.push(await bus.publish(sessionId, delta("m", `${i}b`)));
      published.push(await bus.publish(sessionId, toolStarted("m", `t${i}`)));
    }
    expect(bus.listenerCount(sessionId)).toBe(0);
    expect(await redisSubscribers(admin, sessionId)).toBe(0);
    expect(await subscription.next()).toEqual({
      done: false,
      value: { type: "overflow", sessionId, resumeAfter: first.cursor, pending: 5 },
    });
    expect(await subscription.next()).toEqual({ done: true, value: undefined });

    // A replay is bounded by the retention, not by the cap: resuming delivers everything missed, merged.
    const resumed = await bus.subscribe(sessionId, { after: first.cursor });
    const replayed: ReplyStreamItem[] = [];
    for (let i = 0; i < 10; i++) replayed.push((await resumed.next()).value!);
    await resumed.return();
    expect(joinRuns(replayed as PublishedReplyEvent[])).toEqual(joinRuns(published.slice(1)));
  });

  it("keeps replay then live exact under concurrent publishing and a slow reader: no gap, no duplicate, in order", async () => {
    const sessionId = randomUUID();
    const roomy = create({ maxPendingEvents: 10_000 });
    try {
      await roomy.publish(sessionId, delta("m0", "before,"));
      const start = await roomy.head(sessionId);
      let tenPublished!: () => void;
      const underWay = new Promise<void>((resolve) => (tenPublished = resolve));
      const publishing = (async () => {
        const events: PublishedReplyEvent[] = [];
        for (let i = 0; i < 300; i++) {
          if (i === 10) tenPublished();
          const messageId = `m${Math.floor(i / 30)}`;
          events.push(
            await roomy.publish(
              sessionId,
              i % 30 === 29
                ? { type: "completed", messageId }
                : i % 7 === 3
                  ? toolStarted(messageId, `${i}`)
                  : delta(messageId, `${i},`),
            ),
          );
        }
        return events;
      })();
      // Subscribes while the publishing runs (well within the retention of 50): part of it comes as the replay,
      // part live, some of it both ways.
      await underWay;
      const subscription = await roomy.subscribe(sessionId, { after: start });
      const received: PublishedReplyEvent[] = [];
      // Reads until the last event published (m9's completion). Not "until publishing has returned": on Redis the
      // live copy can reach the subscriber before the publisher hears its command's answer.
      let last: ReplyStreamItem | undefined;
      while (!(last?.type === "completed" && last.messageId === "m9")) {
        const { value, done } = await subscription.next();
        if (done) throw new Error("the subscription ended before the last event");
        last = value;
        received.push(value as PublishedReplyEvent);
        if (Math.random() < 0.3) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await subscription.return();
      const all = await publishing;
      expect(joinRuns(received)).toEqual(joinRuns(all));
      const seqs = received.map((event) => parseCursor(event.cursor)!.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(roomy.listenerCount(sessionId)).toBe(0);
    } finally {
      await roomy.close();
    }
  });

  it("serves a reader that is always one event behind (its queue never empties) in order, for thousands of events", async () => {
    const sessionId = randomUUID();
    const subscription = await bus.subscribe(sessionId);
    const published = [await bus.publish(sessionId, toolStarted("m", "0"))];
    const received: ReplyStreamItem[] = [];
    for (let i = 1; i < 3_000; i++) {
      published.push(await bus.publish(sessionId, toolStarted("m", `${i}`)));
      received.push((await subscription.next()).value!);
    }
    received.push((await subscription.next()).value!);
    await subscription.return();
    expect(received).toEqual(published);
  });

  it("close() ends every subscription, a waiting next() included", async () => {
    const closing = create();
    const sessionId = randomUUID();
    const subscription = await closing.subscribe(sessionId);
    const waiting = subscription.next();
    await closing.close();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(closing.listenerCount(sessionId)).toBe(0);
  });
});
