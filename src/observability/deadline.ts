// Waiting for something, but not forever: the one way this app races work against a timer or an abort. It lives
// here because observability/ is the layer every other one may import and that imports nothing, and the waits it
// serves are spread over all of them (agent tools, services' shutdown and recall, the API's readiness checks).

/**
 * Settles like `work`, unless `ms` pass first: then like `onTimeout()` (its value, or what it throws). The timer is
 * cleared as soon as either happens, so a finished wait never holds the process open. `work` is not cancelled;
 * pair this with an abort signal when it must stop too.
 */
export function withDeadline<T, U = never>(work: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<U>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Settles like `work`, or rejects with the signal's reason as soon as it aborts: for work that may ignore the signal
 * it was given (a third-party tool), so the caller is free at once.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let stop!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    stop = () => reject(signal.reason);
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
  });
  // Raced even when already aborted: the race observes `work`, whose later rejection is then never unhandled.
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener("abort", stop));
}

/**
 * Whether `error` is a signal's abort or timeout (a client that went away, AbortSignal.timeout) rather than a
 * failure. DOMException has no subclasses: its `name` is how the platform tells them apart.
 */
export function isAbortError(error: unknown): boolean {
  return error instanceof DOMException && (error.name === "AbortError" || error.name === "TimeoutError");
}
