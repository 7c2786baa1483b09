// How late the event loop runs: the signal that an instance is out of CPU, whatever the cause. Sampled by Node's own
// histogram (perf_hooks.monitorEventLoopDelay) and read as the worst delay of the last interval.
import { monitorEventLoopDelay } from "node:perf_hooks";

export interface EventLoopMonitor {
  /** The longest event-loop delay of the last full interval, in milliseconds. */
  lagMs(): number;
  stop(): void;
}

export function monitorEventLoop({ intervalMs = 250 }: { intervalMs?: number } = {}): EventLoopMonitor {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let last = 0;
  let lastTick = performance.now();
  const timer = setInterval(() => {
    // The timer itself is late when the loop is: count that too (the histogram only sees delays between its samples).
    const now = performance.now();
    last = Math.max(histogram.max / 1e6, now - lastTick - intervalMs);
    lastTick = now;
    histogram.reset();
  }, intervalMs).unref();
  return {
    lagMs: () => Math.max(last, performance.now() - lastTick - intervalMs),
    stop: () => {
      clearInterval(timer);
      histogram.disable();
    },
  };
}
