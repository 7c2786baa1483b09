// Admission control for replies on this instance: at most `maxRunning` run at once, at most `maxQueued` wait for a
// slot, and a send beyond both, beyond `maxStoring` sends being stored at once, or while the event loop runs too
// late, is refused before anything is stored (OVERLOADED, with a time to retry). Running replies are what the model,
// the database pool and the event loop are sized for; the queue absorbs bursts.
import { AppError } from "./errors.ts";

export interface ReplySlotsOptions {
  /** REPLIES_MAX_RUNNING: replies generating at once on this instance. */
  maxRunning: number;
  /** REPLIES_MAX_QUEUED: replies waiting for a slot; beyond, sendMessage is OVERLOADED. */
  maxQueued: number;
  /** Hears the number of replies running and waiting whenever it changes (metrics). */
  onChange?: (state: { running: number; waiting: number }) => void;
  /**
   * How late the event loop runs now (ms), and how late is too late (REPLIES_MAX_EVENT_LOOP_LAG_MS): past it the
   * instance is out of CPU, and a send is refused at once (cheap) rather than admitted to wait behind everything
   * else (its first token seconds away, its connection at risk of timing out).
   */
  lag?: { now: () => number; maxMs: number };
  /**
   * Sends being stored at once (between `reserve` and `stored`/`unreserve`). Past a small multiple of the database
   * pool they would only wait for a connection, holding their requests open while the instance falls behind (a
   * burst of 1,000 sends on one core waited a minute, and clients' connections were reset); refused, they retry
   * after Retry-After instead. Unbounded when unset.
   */
  maxStoring?: number;
}

interface Waiter {
  start: () => void;
  fail: (reason: unknown) => void;
}

/** Retry-After of an OVERLOADED answer, whatever the estimate says. */
const RETRY_AFTER_SECONDS = { min: 1, max: 60 };

export class ReplySlots {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  /** Admitted sends whose reply has not asked for its slot yet (still storing, or behind the session's last reply). */
  private reserved = 0;
  /** Admitted sends still storing their messages. */
  private storing = 0;
  /** Moving average of how long a reply holds its slot, for the Retry-After estimate. */
  private averageRunSeconds = 5;

  constructor(private readonly options: ReplySlotsOptions) {}

  /**
   * Admits one more reply or throws OVERLOADED; call before storing anything, then `acquire` (or `unreserve` if
   * the send failed).
   */
  reserve(): void {
    const { maxRunning, maxQueued, lag, maxStoring = Number.POSITIVE_INFINITY } = this.options;
    if (
      this.running + this.waiting.length + this.reserved >= maxRunning + maxQueued ||
      this.storing >= maxStoring ||
      (lag && lag.now() > lag.maxMs)
    ) {
      const retryAfter = this.retryAfterSeconds();
      throw new AppError("OVERLOADED", `The server is busy with other replies; retry in ${retryAfter} s`, {
        retryAfter,
        http: { status: 503, headers: { "Retry-After": String(retryAfter) } },
      });
    }
    this.reserved += 1;
    this.storing += 1;
  }

  /** The send stored its messages: its reply will `acquire` (the reservation stays until then). */
  stored(): void {
    this.storing -= 1;
  }

  /** The send failed before storing anything. */
  unreserve(): void {
    this.reserved -= 1;
    this.storing -= 1;
  }

  /**
   * Turns a reservation into a running slot, waiting in line (first come, first served) when every slot is busy;
   * `onQueued` hears the place in line when it has to wait. Resolves to the slot's release; rejects if `signal` is
   * aborted first.
   */
  async acquire(signal: AbortSignal, onQueued: (position: number) => void): Promise<() => void> {
    this.reserved -= 1;
    if (this.running >= this.options.maxRunning) {
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          start: () => {
            signal.removeEventListener("abort", abandon);
            resolve();
          },
          fail: reject,
        };
        const abandon = () => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          this.changed();
          reject(signal.reason);
        };
        signal.throwIfAborted();
        signal.addEventListener("abort", abandon, { once: true });
        this.waiting.push(waiter);
        this.changed();
        onQueued(this.waiting.length);
      });
    } else this.running += 1;
    this.changed();
    const startedAt = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.averageRunSeconds += ((performance.now() - startedAt) / 1000 - this.averageRunSeconds) * 0.1;
      const next = this.waiting.shift();
      // The slot passes straight to the next in line, so nobody can take it in between.
      if (next) next.start();
      else this.running -= 1;
      this.changed();
    };
  }

  private retryAfterSeconds(): number {
    const rounds =
      (this.waiting.length + this.reserved) / this.options.maxRunning +
      this.storing / (this.options.maxStoring ?? Number.POSITIVE_INFINITY) +
      1;
    const estimate = Math.ceil(rounds * this.averageRunSeconds);
    return Math.min(RETRY_AFTER_SECONDS.max, Math.max(RETRY_AFTER_SECONDS.min, estimate));
  }

  private changed(): void {
    this.options.onChange?.({ running: this.running, waiting: this.waiting.length });
  }
}
