// The publishing side of a reply's stream: per token while the bus keeps up, merged deltas while it is busy, the
// order and the text kept, failures reported.
import { describe, expect, it } from "vitest";
import { CoalescingPublisher } from "./coalescing-publisher.ts";
import type { PublishedReplyEvent, ReplyEvent, ReplyEventBus } from "../persistence/events/reply-events.ts";

const delta = (messageId: string, text: string): ReplyEvent => ({ type: "delta", messageId, delta: text });
/** Each run of one message's consecutive deltas as one delta. */
function joinRuns(events: ReplyEvent[]): ReplyEvent[] {
  const joined: ReplyEvent[] = [];
  for (const event of events) {
    const last = joined.at(-1);
    if (event.type === "delta" && last?.type === "delta" && last.messageId === event.messageId) {
      joined[joined.length - 1] = { ...last, delta: last.delta + event.delta };
    } else {
      joined.push(event);
    }
  }
  return joined;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A bus whose publishes complete when the test says so (`release`), or after `delayMs`, recording what it got. */
function fakeBus({ delayMs }: { delayMs?: number } = {}) {
  const published: Array<{ sessionId: string; event: ReplyEvent }> = [];
  const gates: Array<{ open: () => void; fail: (error: Error) => void }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const bus: Pick<ReplyEventBus, "publish"> = {
    async publish(sessionId, event) {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        if (delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, delayMs));
        else await new Promise<void>((open, fail) => gates.push({ open, fail }));
        published.push({ sessionId, event: structuredClone(event) });
        return { ...event, sessionId, cursor: `g:${published.length}` } as PublishedReplyEvent;
      } finally {
        inFlight -= 1;
      }
    },
  };
  return {
    bus,
    published,
    events: () => published.map(({ event }) => event),
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    /** Completes the publish in flight (the oldest waiting), then lets the publisher send its next. */
    async release(error?: Error) {
      await tick();
      const gate = gates.shift();
      if (!gate) throw new Error("nothing in flight");
      if (error) gate.fail(error);
      else gate.open();
      await tick();
    },
  };
}

describe("CoalescingPublisher", () => {
  it("sends every token as its own delta while the bus keeps up", async () => {
    const fake = fakeBus({ delayMs: 0 });
    const publisher = new CoalescingPublisher(fake.bus);
    const tokens = ["Hel", "lo", ", ", "world", "!"];
    for (const token of tokens) {
      await publisher.publish("s", delta("m", token));
      // The model's pace: slower than the bus.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await publisher.publish("s", { type: "completed", messageId: "m" });
    expect(fake.events()).toEqual([...tokens.map((token) => delta("m", token)), { type: "completed", messageId: "m" }]);
  });

  it("merges the deltas that arrive while a publish is in flight, and nothing else; events keep their order", async () => {
    const fake = fakeBus();
    const publisher = new CoalescingPublisher(fake.bus);
    const originals = [delta("m", "a"), delta("m", "b"), delta("m", "c")];
    // Deltas resolve at once: the model is never held up by the bus.
    for (const event of originals) await publisher.publish("s", event);
    const toolStarted = publisher.publish("s", {
      type: "toolStarted",
      messageId: "m",
      toolCallId: "t",
      name: "x",
      arguments: {},
    });
    let toolOut = false;
    void toolStarted.then(() => (toolOut = true));
    await publisher.publish("s", delta("m", "d"));
    const restarted = publisher.publish("s", { type: "restarted", messageId: "m", reason: "retry" });
    await publisher.publish("s", delta("m", "e"));
    await publisher.publish("s", delta("m2", "f"));
    await publisher.publish("s", delta("m2", "g"));

    expect(fake.inFlight()).toBe(1);
    await fake.release(); // "a"
    expect(toolOut).toBe(false);
    await fake.release(); // "bc"
    await fake.release(); // toolStarted
    expect(toolOut).toBe(true);
    await fake.release(); // "d"
    await fake.release(); // restarted
    await fake.release(); // "e"
    await fake.release(); // "fg"
    await Promise.all([toolStarted, restarted]);
    expect(fake.events()).toEqual([
      delta("m", "a"),
      delta("m", "bc"),
      { type: "toolStarted", messageId: "m", toolCallId: "t", name: "x", arguments: {} },
      delta("m", "d"),
      { type: "restarted", messageId: "m", reason: "retry" },
      delta("m", "e"),
      delta("m2", "fg"),
    ]);
    expect(fake.maxInFlight()).toBe(1);
    // The caller's events are never changed by a merge.
    expect(originals).toEqual([delta("m", "a"), delta("m", "b"), delta("m", "c")]);
  });

  it("resolves a final event (and flush) only once everything before it is published", async () => {
    const fake = fakeBus();
    const publisher = new CoalescingPublisher(fake.bus);
    for (const token of ["x", "y", "z"]) await publisher.publish("s", delta("m", token));
    let flushed = false;
    void publisher.flush("s").then(() => (flushed = true));
    const completed = publisher.publish("s", { type: "completed", messageId: "m" });
    await fake.release();
    expect(flushed).toBe(false);
    await fake.release();
    expect(flushed).toBe(true);
    await fake.release();
    await completed;
    expect(fake.events()).toEqual([delta("m", "x"), delta("m", "yz"), { type: "completed", messageId: "m" }]);
    await expect(publisher.flush("s")).resolves.toBeUndefined();
  });

  it("keeps sessions apart: one session's slow publish holds up no other session", async () => {
    const fake = fakeBus();
    const publisher = new CoalescingPublisher(fake.bus);
    await publisher.publish("a", delta("m1", "a1"));
    await publisher.publish("b", delta("m2", "b1"));
    expect(fake.inFlight()).toBe(2);
    await publisher.publish("a", delta("m1", "a2"));
    await publisher.publish("b", delta("m2", "b2"));
    await fake.release();
    await fake.release();
    await fake.release();
    await fake.release();
    expect(
      fake.published.map(({ sessionId, event }) => [sessionId, event.type === "delta" ? event.delta : ""]),
    ).toEqual([
      ["a", "a1"],
      ["b", "b1"],
      ["a", "a2"],
      ["b", "b2"],
    ]);
  });

  it("reports a failed publish once: to the event that failed, else to the session's next publish or flush", async () => {
    const fake = fakeBus();
    const publisher = new CoalescingPublisher(fake.bus);
    const boom = new Error("bus down");

    // A delta fails: the next publish of the session is told (its own event still goes out), then nobody again.
    await publisher.publish("s", delta("m", "a"));
    await fake.release(boom);
    await expect(publisher.publish("s", delta("m", "b"))).rejects.toBe(boom);
    await fake.release();
    await expect(publisher.publish("s", delta("m", "c"))).resolves.toBeUndefined();
    await fake.release();

    // A non-delta event that fails rejects its own promise.
    const tool = publisher
      .publish("s", { type: "toolStarted", messageId: "m", toolCallId: "t", name: "x", arguments: {} })
      .catch((error: unknown) => error);
    await fake.release(boom);
    expect(await tool).toBe(boom);

    // A waiting delta that fails is reported to the event awaited after it, which is still published.
    await publisher.publish("s", delta("m", "d"));
    await publisher.publish("s", delta("m", "e"));
    const completed = publisher.publish("s", { type: "completed", messageId: "m" }).catch((error: unknown) => error);
    await fake.release(); // "d"
    await fake.release(boom); // "e"
    await fake.release(); // completed
    expect(await completed).toBe(boom);
    expect(fake.events()).toEqual([
      delta("m", "b"),
      delta("m", "c"),
      delta("m", "d"),
      { type: "completed", messageId: "m" },
    ]);

    // And to a flush, when nothing else is published.
    await publisher.publish("s2", delta("m", "x"));
    await fake.release(boom);
    await expect(publisher.flush("s2")).rejects.toBe(boom);
    await expect(publisher.flush("s2")).resolves.toBeUndefined();
    await expect(publisher.drain()).resolves.toBeUndefined();
  });

  it("keeps the text and the order whatever the bus's pace (random delays)", async () => {
    const published: ReplyEvent[] = [];
    const bus: Pick<ReplyEventBus, "publish"> = {
      async publish(sessionId, event) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() < 0.3 ? 2 : 0));
        published.push(structuredClone(event));
        return { ...event, sessionId, cursor: `g:${published.length}` } as PublishedReplyEvent;
      },
    };
    const publisher = new CoalescingPublisher(bus);
    const sent: ReplyEvent[] = [];
    for (let i = 0; i < 400; i++) {
      const event: ReplyEvent =
        i % 50 === 49
          ? { type: "toolFinished", messageId: "m", toolCallId: `${i}`, name: "x", result: "", isError: false }
          : delta(i < 200 ? "m" : "n", `${i},`);
      sent.push(event);
      if (event.type === "delta") void publisher.publish("s", event);
      else await publisher.publish("s", event);
      if (Math.random() < 0.5) await tick();
    }
    await publisher.publish("s", { type: "completed", messageId: "n" });
    // The same text and the same other events in the same order: compared with each run of deltas joined.
    expect(joinRuns(published)).toEqual(joinRuns([...sent, { type: "completed", messageId: "n" }]));
    // Busy at times: fewer events than tokens, but more than one per run.
    expect(published.length).toBeLessThan(sent.length + 1);
  });
});
