// The parent's handle on fake-llm-server.ts: forks it (with tsx) and talks to it over IPC.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { track } from "./children.ts";

export interface FakeLlmReport {
  replyRequests: number;
  repliesFinished: number;
  repliesAborted: number;
  /** Reply tokens written since the last reset. */
  replyTokens: number;
  /** Of those, written inside the asked window. */
  tokensInWindow: number;
  memoryRequests: number;
  otherRequests: number;
  inFlight: number;
  maxInFlight: number;
  /** Wall-clock ms of the first and last reply token since the reset. */
  firstEmission: number | undefined;
  lastEmission: number | undefined;
  /** The fake's own CPU since the reset. */
  cpuSeconds: number;
  eventLoopDelayP99Ms: number;
}

export type FakeLlmRequest =
  | { type: "reset"; id: number }
  | { type: "clock"; id: number }
  | { type: "report"; id: number; from?: number; to?: number };
export type FakeLlmResponse =
  | { type: "ready"; baseUrl: string }
  | { type: "reset"; id: number }
  | { type: "clock"; id: number; now: number }
  | { type: "report"; id: number; report: FakeLlmReport };

export interface FakeLlm {
  baseUrl: string;
  pid: number;
  /**
   * The fake's wall clock minus ours, in ms (both are performance.timeOrigin + performance.now(), which may differ by
   * a fraction of a millisecond between processes): subtract it from an emission time to put it on our clock.
   */
  clockOffsetMs: number;
  reset(): Promise<void>;
  /** Counters since the last reset; `tokensInWindow` counts tokens written between `from` and `to` (our wall clock, ms). */
  report(window?: { from: number; to: number }): Promise<FakeLlmReport>;
  stop(): Promise<void>;
}

const wallNow = () => performance.timeOrigin + performance.now();
const SERVER = fileURLToPath(new URL("./fake-llm-server.ts", import.meta.url));

export async function startFakeLlm(options: { tokens: number; rate: number }): Promise<FakeLlm> {
  const child = track(
    fork(SERVER, [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, FAKE_LLM_TOKENS: String(options.tokens), FAKE_LLM_RATE: String(options.rate) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    }),
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    child.once("message", (message: FakeLlmResponse) => {
      if (message.type === "ready") resolve(message.baseUrl);
    });
    void exited.then(() => reject(new Error("the fake LLM server exited before it was ready")));
  });

  let nextId = 0;
  const pending = new Map<number, (response: FakeLlmResponse) => void>();
  child.on("message", (message: FakeLlmResponse) => {
    if (message.type !== "ready") pending.get(message.id)?.(message);
  });
  const ask = (request: FakeLlmRequest) =>
    new Promise<FakeLlmResponse>((resolve, reject) => {
      pending.set(request.id, (response) => {
        pending.delete(request.id);
        resolve(response);
      });
      child.send(request, (error) => error && reject(error));
    });

  // The IPC round trip with the smallest delay bounds the offset best.
  let clockOffsetMs = 0;
  let bestRoundTrip = Infinity;
  for (let i = 0; i < 20; i++) {
    const sentAt = wallNow();
    const response = await ask({ type: "clock", id: ++nextId });
    const receivedAt = wallNow();
    if (response.type === "clock" && receivedAt - sentAt < bestRoundTrip) {
      bestRoundTrip = receivedAt - sentAt;
      clockOffsetMs = response.now - (sentAt + receivedAt) / 2;
    }
  }

  return {
    baseUrl,
    pid: child.pid!,
    clockOffsetMs,
    async reset() {
      await ask({ type: "reset", id: ++nextId });
    },
    async report(window) {
      const from = window && window.from + clockOffsetMs;
      const to = window && window.to + clockOffsetMs;
      const response = await ask({ type: "report", id: ++nextId, from, to });
      if (response.type !== "report") throw new Error(`unexpected answer from the fake LLM: ${response.type}`);
      return response.report;
    },
    async stop() {
      if (child.connected) child.disconnect();
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}
