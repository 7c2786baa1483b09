import { describe, expect, it } from "vitest";
import { AppError } from "./errors.ts";
import { ReplySlots } from "./reply-slots.ts";

const never = new AbortController().signal;

describe("ReplySlots: admission control for replies", () => {
  it("runs up to maxRunning, queues up to maxQueued first come first served, refuses beyond with OVERLOADED", async () => {
    const slots = new ReplySlots({ maxRunning: 2, maxQueued: 2 });
    for (let i = 0; i < 4; i++) slots.reserve();
    let refused: unknown;
    try {
      slots.reserve();
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: "OVERLOADED", details: { retryAfter: expect.any(Number) } });

    const started: string[] = [];
    const queuedAt: number[] = [];
    const take = (name: string) =>
      slots
        .acquire(never, (position) => queuedAt.push(position))
        .then((release) => {
          started.push(name);
          return release;
        });
    const a = await take("a");
    const b = await take("b");
    const c = take("c");
    const d = take("d");
    await Promise.resolve();
    expect(started).toEqual(["a", "b"]);
    expect(queuedAt).toEqual([1, 2]);

    a();
    await c;
    b();
    await d;
    expect(started).toEqual(["a", "b", "c", "d"]);
    // Two running, nothing waiting or reserved: room for two more in the queue.
    slots.reserve();
    slots.reserve();
    expect(() => slots.reserve()).toThrow(AppError);
  });

  it("gives up a place in line when its reply is cancelled, and the line moves on", async () => {
    const slots = new ReplySlots({ maxRunning: 1, maxQueued: 5 });
    slots.reserve();
    slots.reserve();
    slots.reserve();
    const first = await slots.acquire(never, () => undefined);
    const cancel = new AbortController();
    const abandoned = slots.acquire(cancel.signal, () => undefined);
    const third = slots.acquire(never, () => undefined);
    cancel.abort(new Error("cancelled"));
    await expect(abandoned).rejects.toThrow("cancelled");
    first();
    const release = await third;
    expect(typeof release).toBe("function");
  });

  it("a reservation given back makes room again", () => {
    const slots = new ReplySlots({ maxRunning: 1, maxQueued: 0 });
    slots.reserve();
    expect(() => slots.reserve()).toThrow(AppError);
    slots.unreserve();
    expect(() => slots.reserve()).not.toThrow();
  });
});

describe("ReplySlots under CPU pressure", () => {
  it("refuses a send with OVERLOADED while the event loop runs later than allowed, whatever slots are free", () => {
    let lagMs = 0;
    const slots = new ReplySlots({ maxRunning: 100, maxQueued: 100, lag: { now: () => lagMs, maxMs: 1000 } });
    slots.reserve();
    lagMs = 1500;
    expect(() => slots.reserve()).toThrow(expect.objectContaining({ code: "OVERLOADED" }));
    lagMs = 200;
    expect(() => slots.reserve()).not.toThrow();
  });
});

describe("ReplySlots with a burst of sends", () => {
  it("refuses sends beyond maxStoring while they store, with a Retry-After; a stored send makes room at once", () => {
    const slots = new ReplySlots({ maxRunning: 100, maxQueued: 100, maxStoring: 2 });
    slots.reserve();
    slots.reserve();
    let refused: unknown;
    try {
      slots.reserve();
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: "OVERLOADED", details: { retryAfter: expect.any(Number) } });
    slots.stored();
    expect(() => slots.reserve()).not.toThrow();
    expect(() => slots.reserve()).toThrow(AppError);
    slots.unreserve();
    expect(() => slots.reserve()).not.toThrow();
  });
});
