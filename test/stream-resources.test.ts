// A subscription gives back what it holds the moment it ends, over every transport, without waiting for the
// session's next event: its listener on the reply event bus and, on Redis, the channel's SUBSCRIBE. A reader that
// falls too far behind is ended with STREAM_OVERFLOW and resumes exactly from `extensions.resumeAfter`.
import { decodeGlobalID } from "@pothos/plugin-relay";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { RedisReplyEventBus } from "../src/persistence/events/redis-reply-events.ts";
import { MemoryReplyEventBus, type ReplyEvent, type ReplyEventBus } from "../src/persistence/events/reply-events.ts";
import {
  createSession,
  MESSAGE_STREAM,
  signUp,
  wsClient,
  type GraphQLResponse,
  type StreamEvent,
} from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

// The app's bus, found by the first subscription it serves (the app does not expose it).
let bus: ReplyEventBus | undefined;
for (const Bus of [MemoryReplyEventBus, RedisReplyEventBus] as const) {
  const subscribe = Bus.prototype.subscribe;
  vi.spyOn(Bus.prototype, "subscribe").mockImplementation(function (this: ReplyEventBus, ...args) {
    bus = this;
    return subscribe.apply(this, args);
  });
}

let app: TestApp;
let admin: Redis | undefined;
beforeAll(async () => {
  app = await startTestApp();
  if (process.env.TEST_REDIS_URL) admin = new Redis(process.env.TEST_REDIS_URL);
});
afterAll(async () => {
  admin?.disconnect();
  await app?.cleanup();
});

/** Polls until `read` gives `expected` (or the time is up, then the last value), with no event published meanwhile. */
async function settlesAt<T>(read: () => T | Promise<T>, expected: T, timeoutMs = 1_500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    value = await read();
  }
  return value;
}

/** What holds a session's events on this instance: local listeners, and Redis's count of channel subscribers. */
function holders(sessionGlobalId: string) {
  const sessionId = decodeGlobalID(sessionGlobalId).id;
  return {
    sessionId,
    listeners: () => bus?.listenerCount(sessionId) ?? 0,
    redisSubscribers: async () => {
      if (!admin) return 0;
      const [, count] = (await admin.pubsub(
        "NUMSUB",
        `${app.env.REDIS_KEY_PREFIX}:reply-events:live:${sessionId}`,
      )) as [string, number];
      return Number(count);
    },
  };
}

async function expectReleased(held: ReturnType<typeof holders>) {
  expect(await settlesAt(held.listeners, 0)).toBe(0);
  expect(await settlesAt(held.redisSubscribers, 0)).toBe(0);
}

async function expectHeld(held: ReturnType<typeof holders>) {
  expect(await settlesAt(held.listeners, 1)).toBe(1);
  expect(await settlesAt(held.redisSubscribers, admin ? 1 : 0)).toBe(admin ? 1 : 0);
}

describe("a messageStream subscription's resources", () => {
  it("are released when a graphql-ws client completes the subscription, with no further event", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const held = holders(sessionId);
    const client = wsClient(app.wsUrl, user.token);
    let completed = false;
    const unsubscribe = client.subscribe(
      { query: MESSAGE_STREAM, variables: { sessionId } },
      { next: () => {}, error: () => {}, complete: () => (completed = true) },
    );
    await expectHeld(held);
    unsubscribe();
    await expectReleased(held);
    expect(completed).toBe(true);
    // The connection stays usable.
    const again = client.subscribe(
      { query: MESSAGE_STREAM, variables: { sessionId } },
      { next: () => {}, error: () => {}, complete: () => {} },
    );
    await expectHeld(held);
    again();
    await expectReleased(held);
    await client.dispose();
  });

  it("are released when the graphql-ws socket closes", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const held = holders(sessionId);
    const client = wsClient(app.wsUrl, user.token);
    client.subscribe(
      { query: MESSAGE_STREAM, variables: { sessionId } },
      { next: () => {}, error: () => {}, complete: () => {} },
    );
    await expectHeld(held);
    await client.dispose();
    await expectReleased(held);
  });

  it("are released when an SSE client cancels its stream", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const held = holders(sessionId);
    const url = new URL(app.graphqlUrl);
    url.searchParams.set("query", MESSAGE_STREAM);
    url.searchParams.set("variables", JSON.stringify({ sessionId }));
    const response = await fetch(url, {
      headers: { accept: "text/event-stream", authorization: `Bearer ${user.token}`, "x-graphql-yoga-csrf": "1" },
    });
    expect(response.status).toBe(200);
    await expectHeld(held);
    await response.body!.cancel();
    await expectReleased(held);
  });

  it.skipIf(Boolean(process.env.TEST_REDIS_URL))(
    "ends a reader that falls too far behind with STREAM_OVERFLOW, releases it, and resumes exactly from resumeAfter",
    async () => {
      const user = await signUp(app.graphqlUrl);
      const sessionId = await createSession(app.graphqlUrl, user.token);
      const held = holders(sessionId);
      const client = wsClient(app.wsUrl, user.token);
      const received: StreamEvent[] = [];
      let failure: GraphQLResponse["errors"];
      const ended = new Promise<void>((resolve, reject) => {
        client.subscribe<{ messageStream: StreamEvent }>(
          { query: MESSAGE_STREAM, variables: { sessionId } },
          {
            next: (result) => {
              if (result.errors) failure = result.errors as GraphQLResponse["errors"];
              else received.push(result.data!.messageStream);
            },
            error: reject,
            complete: resolve,
          },
        );
      });
      await expectHeld(held);
      // A burst no socket can follow: 1,100 events that cannot merge, published in one turn of the event loop.
      const published: Array<Promise<{ cursor: string }>> = [];
      for (let i = 0; i < 1_100; i++) {
        const event: ReplyEvent = {
          type: "toolStarted",
          messageId: "burst",
          toolCallId: `${i}`,
          name: "x",
          arguments: {},
        };
        published.push(bus!.publish(held.sessionId, event));
      }
      expect(held.listeners()).toBe(0);
      await ended;
      expect(failure).toEqual([
        expect.objectContaining({
          extensions: expect.objectContaining({ code: "STREAM_OVERFLOW", resumeAfter: received.at(-1)!.cursor }),
        }),
      ]);
      expect(received.length).toBeLessThan(10);

      // Resuming from resumeAfter delivers the rest: each event once, none missing.
      const last = (await published.at(-1)!).cursor;
      const resumed = await new Promise<StreamEvent[]>((resolve, reject) => {
        const events: StreamEvent[] = [];
        const stop = client.subscribe<{ messageStream: StreamEvent }>(
          { query: MESSAGE_STREAM, variables: { sessionId, after: failure![0]!.extensions!.resumeAfter } },
          {
            next: (result) => {
              if (result.errors) return reject(new Error(JSON.stringify(result.errors)));
              events.push(result.data!.messageStream);
              if (result.data!.messageStream.cursor === last) {
                stop();
                resolve(events);
              }
            },
            error: reject,
            complete: () => resolve(events),
          },
        );
      });
      await client.dispose();
      expect([...received, ...resumed].map((event) => event.toolCallId)).toEqual(
        Array.from({ length: 1_100 }, (_, i) => `${i}`),
      );
      await expectReleased(held);
    },
  );
});
