// Every child process the benchmark starts, so none outlives it: killed on exit, on SIGINT/SIGTERM and on a crash.
import type { ChildProcess } from "node:child_process";

const children = new Set<ChildProcess>();
const exitHooks: Array<() => Promise<void>> = [];

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** Asynchronous clean-up (dropping a database) to attempt when the bench is interrupted. */
export function onInterrupt(hook: () => Promise<void>): () => void {
  exitHooks.push(hook);
  return () => {
    const index = exitHooks.indexOf(hook);
    if (index >= 0) exitHooks.splice(index, 1);
  };
}

function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

let interruption: Promise<never> | undefined;

/** After SIGINT/SIGTERM: a promise that never settles (the process exits once clean-up is done); else undefined. */
export const interrupted = () => interruption;

function interrupt(signal: NodeJS.Signals): void {
  if (interruption) process.exit(130); // a second Ctrl-C: now
  console.error(`\n${signal}: stopping the servers and cleaning up…`);
  killAll();
  interruption = (async () => {
    const deadline = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
    await Promise.race([Promise.allSettled(exitHooks.map((hook) => hook())), deadline]);
    process.exit(130);
  })();
}

process.on("exit", killAll);
process.on("SIGINT", interrupt);
process.on("SIGTERM", interrupt);
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (error: unknown) => {
    if (interruption) return; // the children were killed under the bench's feet: expected, clean-up is running
    console.error(error);
    killAll();
    process.exit(1);
  });
}
