// Runs the API as a separate Node process (as `npm start` does), so tests can SIGKILL it.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  /** Every line the process wrote to stdout so far (its JSON log lines). */
  lines: string[];
}

/** `logLevel` is the process's LOG_LEVEL: at least info, since readiness is read from the "agent API ready" line. */
export async function startServerProcess(
  env: Record<string, string>,
  timeoutMs = 60_000,
  logLevel: "info" | "debug" | "trace" = "info",
): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    env: { ...process.env, ...env, LOG_LEVEL: logLevel },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal!)),
  );
  const output: string[] = [];
  child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output.join("")}`)), timeoutMs);
    exited.then((code) => reject(new Error(`server exited (${code}) before it was ready:\n${output.join("")}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(line);
      lines.push(line);
      const record = safeJson(line);
      if (record?.msg === "agent API ready") {
        clearTimeout(timer);
        resolve(new URL(record.url).origin);
      }
    });
  });
  return { url, child, exited, lines };
}

function safeJson(line: string): Record<string, any> | undefined {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
