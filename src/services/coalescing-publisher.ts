// Publishes a reply's events onto the bus without letting the bus set the pace of the model: per session, one
// publish is in flight at a time, and the deltas that arrive meanwhile wait and go out as ONE merged delta when it
// completes. A bus that keeps up gets every token as its own event; a busy one (a Redis round trip per event, many
// replies at once) gets fewer, larger deltas, and the concatenated text is the same. The bus numbers what it
// publishes, so a merged delta is simply one event with one cursor.
import type { ReplyEvent, ReplyEventBus } from "../persistence/events/reply-events.ts";

type DeltaEvent = Extract<ReplyEvent, { type: "delta" }>;

const RESOLVED = Promise.resolve();

/**
 * Drop-in for `bus.publish` on the producing side, with these rules per session:
 * - `publish(sessionId, delta)` resolves at once: the delta is sent now when nothing is in flight, else it waits,
 *   merged into the waiting delta of the same message right before it, if any.
 * - Any other event is never merged, goes out after everything published before it (waiting deltas first), and
 *   its promise resolves once it is published: awaiting a reply's final event (or `flush`) means everything before
 *   it was published, in order.
 * - A failed publish is reported once, to the first that can see it: the promise of the event that failed, if it
 *   has one (not a delta); else the next `publish` (its event is still queued) or `flush` of that session, or the
 *   next non-delta event to be published. Events behind a failure are still attempted in order.
 */
export class CoalescingPublisher {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly bus: Pick<ReplyEventBus, "publish">) {}

  publish(sessionId: string, event: ReplyEvent): Promise<void> {
    let lane = this.lanes.get(sessionId);
    if (!lane) {
      const created: Lane = new Lane(this.bus, sessionId, () => {
        if (this.lanes.get(sessionId) === created) this.lanes.delete(sessionId);
      });
      this.lanes.set(sessionId, created);
      lane = created;
    }
    return lane.publish(event);
  }

  /** Resolves once everything published so far for the session is out; rejects with a failure not reported yet. */
  flush(sessionId: string): Promise<void> {
    return this.lanes.get(sessionId)?.flush() ?? RESOLVED;
  }

  /** Resolves once every session's events so far are out or failed (never rejects): for shutdown. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.lanes.values()].map((lane) => lane.flush()));
  }
}

interface Waiting {
  /** None for a flush's marker: it settles when everything before it is out. */
  event: ReplyEvent | undefined;
  /** A merged delta made here (the caller's events are never changed). */
  merged: boolean;
  resolve?: () => void;
  reject?: (error: unknown) => void;
}

/** One session's events: the one in flight, and those waiting for it (a few: deltas merge, events are awaited). */
class Lane {
  private readonly waiting: Waiting[] = [];
  private busy = false;
  /** The event in flight ends a reply: once it is out, the lane can go (the session's next reply makes another). */
  private final = false;
  private resolveCurrent: (() => void) | undefined;
  private rejectCurrent: ((error: unknown) => void) | undefined;
  /** A failure no caller has been told of yet. */
  private failure: { error: unknown } | undefined;
  // Bound once per session, not per event.
  private readonly sent = () => this.settle(undefined);
  private readonly failed = (error: unknown) => this.settle({ error });

  constructor(
    private readonly bus: Pick<ReplyEventBus, "publish">,
    private readonly sessionId: string,
    private readonly onIdle: () => void,
  ) {}

  publish(event: ReplyEvent): Promise<void> {
    if (event.type !== "delta") {
      return new Promise<void>((resolve, reject) => {
        if (this.busy) this.waiting.push({ event, merged: false, resolve, reject });
        else this.send(event, resolve, reject);
      });
    }
    if (!this.busy) this.send(event, undefined, undefined);
    else this.addDelta(event);
    const failure = this.takeFailure();
    return failure ? Promise.reject(failure.error) : RESOLVED;
  }

  flush(): Promise<void> {
    if (this.busy)
      return new Promise<void>((resolve, reject) =>
        this.waiting.push({ event: undefined, merged: false, resolve, reject }),
      );
    const failure = this.takeFailure();
    this.onIdle();
    return failure ? Promise.reject(failure.error) : RESOLVED;
  }

  private addDelta(event: DeltaEvent): void {
    const tail = this.waiting.at(-1);
    if (tail?.event?.type === "delta" && tail.event.messageId === event.messageId) {
      if (tail.merged) tail.event.delta += event.delta;
      else tail.event = { type: "delta", messageId: event.messageId, delta: tail.event.delta + event.delta };
      tail.merged = true;
    } else {
      this.waiting.push({ event, merged: false });
    }
  }

  private send(
    event: ReplyEvent,
    resolve: (() => void) | undefined,
    reject: ((error: unknown) => void) | undefined,
  ): void {
    this.busy = true;
    this.final = event.type === "completed" || event.type === "cancelled" || event.type === "failed";
    this.resolveCurrent = resolve;
    this.rejectCurrent = reject;
    let published: Promise<unknown>;
    try {
      published = this.bus.publish(this.sessionId, event);
    } catch (error) {
      published = Promise.reject(error);
    }
    published.then(this.sent, this.failed);
  }

  private settle(failure: { error: unknown } | undefined): void {
    const resolve = this.resolveCurrent;
    const reject = this.rejectCurrent;
    this.resolveCurrent = this.rejectCurrent = undefined;
    if (failure) {
      if (reject) reject(failure.error);
      else this.failure ??= failure;
    } else if (resolve) {
      const earlier = this.takeFailure();
      if (earlier) reject!(earlier.error);
      else resolve();
    }
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
      if (next.event) {
        this.send(next.event, next.resolve, next.reject);
        return;
      }
      const unreported = this.takeFailure();
      if (unreported) next.reject!(unreported.error);
      else next.resolve!();
    }
    this.busy = false;
    // Kept between a reply's events (not one lane per token), and while a failure waits to be reported.
    if (this.final && !this.failure) this.onIdle();
  }

  private takeFailure(): { error: unknown } | undefined {
    const failure = this.failure;
    this.failure = undefined;
    return failure;
  }
}
