// The server under test, in a process of its own, started as `npm start` starts it (or as `npm run start:prod` does,
// from dist/), on a fresh database: a temp DATA_DIR for PGlite, a database created for the run on PostgreSQL.
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createThrowawayDatabase } from "../../test/support/throwaway-database.ts";
import { onInterrupt, track } from "./children.ts";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

export interface Backend {
  /** "pglite", or "postgres+redis" / "postgres" when DATABASE_URL (and REDIS_URL) are given. */
  kind: string;
  databaseUrl?: string;
  redisUrl?: string;
}

export interface ServerOptions {
  backend: Backend;
  fakeBaseUrl: string;
  /** Run `node dist/main.js` (production) instead of `node --import tsx src/main.ts --default-app-env=development`. */
  prod: boolean;
  /** Set on top of the bench's own settings. */
  env?: Record<string, string>;
}

export interface ServerUnderTest {
  pid: number;
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  /** `Authorization` header value for /metrics (production needs METRICS_TOKEN), if any. */
  metricsAuthorization?: string;
  /** Warning and error log lines, counted by message (the server logs JSON at LOG_LEVEL=warn). */
  logCounts: Map<string, number>;
  /** The last lines of output, for a failed start. */
  tail(): string;
  /** SIGTERM, then SIGKILL after a while; drops the run's database and Redis keys, removes the data directory. */
  stop(): Promise<void>;
}

/**
 * Only what keeps the bench itself out of the way: quotas and per-user/per-address limits (every chat signs up from
 * 127.0.0.1), cheap password hashing for the sign-ups, JSON logs at warn. The run limit, queue and pool sizes stay
 * the shipped defaults: they are what is measured.
 */
export const BENCH_ENV: Record<string, string> = {
  OPENAI_API_KEY: "sk-bench",
  LLM_MODEL: "bench-model",
  LOG_LEVEL: "warn",
  // npm start's .env.development turns pino-pretty on; keep the production log format (and its cost) instead.
  LOG_PRETTY: "false",
  ARGON2_MEMORY_KIB: "8192",
  ARGON2_TIME_COST: "2",
  RATE_LIMIT_AUTH_PER_15_MIN: "1000000",
  RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN: "1000000",
  RATE_LIMIT_SEND_PER_MIN: "1000000",
  RATE_LIMIT_QUERY_COST_PER_MIN: "100000000",
  LLM_DAILY_TOKEN_LIMIT: "1000000000",
  MAX_CONCURRENT_REPLIES_PER_USER: "1000",
  MAX_SUBSCRIPTIONS_PER_USER: "1000",
  WS_MAX_CONNECTIONS_PER_ADDRESS: "1000000",
  // The load clients send their documents as text; trusted documents (on in production) are not what is measured.
  PERSISTED_DOCUMENTS_ONLY: "false",
};

/** Variables of the bench's own environment that must not leak into a server that is not meant to have them. */
const NOT_INHERITED = [
  "DATABASE_URL",
  "REDIS_URL",
  "REDIS_KEY_PREFIX",
  "APP_ENV",
  "NODE_ENV",
  "PORT",
  "DATA_DIR",
  "JWT_SECRET",
  "METRICS_TOKEN",
];

export async function startServer(options: ServerOptions): Promise<ServerUnderTest> {
  const { backend } = options;
  const dataDir = await mkdtemp(join(tmpdir(), "bench-load-"));
  const database = backend.databaseUrl
    ? await createThrowawayDatabase(backend.databaseUrl, { prefix: "bench_load" })
    : undefined;
  const redisKeyPrefix = `bench-load-${randomUUID().slice(0, 8)}`;
  const port = await freePort();
  const metricsToken = options.prod ? randomBytes(24).toString("hex") : undefined;

  const inherited = { ...process.env };
  for (const name of NOT_INHERITED) delete inherited[name];
  const env: Record<string, string | undefined> = {
    ...inherited,
    ...BENCH_ENV,
    OPENAI_BASE_URL: options.fakeBaseUrl,
    PORT: String(port),
    DATA_DIR: dataDir,
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...(backend.redisUrl ? { REDIS_URL: backend.redisUrl, REDIS_KEY_PREFIX: redisKeyPrefix } : {}),
    // `npm run start:prod` is production: it refuses to start without a strong JWT_SECRET and closes /metrics without a token.
    ...(options.prod
      ? { APP_ENV: "production", JWT_SECRET: randomBytes(48).toString("base64"), METRICS_TOKEN: metricsToken }
      : {}),
    ...options.env,
  };
  // `--cpu-prof` is refused in NODE_OPTIONS: the profiler flags go on the command line (BENCH_CPU_PROF_DIR).
  const profile = process.env.BENCH_CPU_PROF_DIR
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`]
    : [];
  const args = options.prod
    ? [...profile, join(REPO, "dist/main.js")]
    : [...profile, "--import", "tsx", join(REPO, "src/main.ts"), "--default-app-env=development"];
  const child = track(spawn(process.execPath, args, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] }));
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "?")),
  );

  const tailLines: string[] = [];
  const logCounts = new Map<string, number>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on("line", (line) => {
      tailLines.push(line);
      if (tailLines.length > 40) tailLines.shift();
      const record = parseJson(line);
      const key = record
        ? `${levelName(record.level)}: ${record.msg ?? "?"}${record.err?.type ? ` (${record.err.type})` : ""}`
        : line.slice(0, 120);
      logCounts.set(key, (logCounts.get(key) ?? 0) + 1);
    });
  }

  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      await database
        ?.drop()
        .catch((error: unknown) => console.error(`could not drop ${database.name}: ${String(error)}`));
      if (backend.redisUrl) await deleteRedisKeys(backend.redisUrl, redisKeyPrefix).catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    })());
  const forget = onInterrupt(cleanUp);

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killed = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(killed);
    }
    forget();
    await cleanUp();
  };

  try {
    await waitUntilReady(url, exited, 180_000);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${tailLines.join("\n")}`);
  }
  return {
    pid: child.pid!,
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    metricsAuthorization: metricsToken ? `Bearer ${metricsToken}` : undefined,
    logCounts,
    tail: () => tailLines.join("\n"),
    stop,
  };
}

async function waitUntilReady(url: string, exited: Promise<number | string>, timeoutMs: number): Promise<void> {
  let exitCode: number | string | undefined;
  void exited.then((code) => (exitCode = code));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`the server exited (${exitCode}) before it was ready`);
    try {
      const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the server was not ready after ${timeoutMs / 1000} s`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

// --- /proc ----------------------------------------------------------------------------------------------------------

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux the bench targets (`getconf CLK_TCK`)

/** User + system CPU seconds of a process, all its threads (libuv pool, workers, GC) included. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which sits in parentheses and may contain spaces: state is field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND; // utime (14) and stime (15)
}

/** Resident memory now (VmRSS) and its peak since the process started (VmHWM), in bytes. */
export async function memory(pid: number): Promise<{ rss: number; peakRss: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib("VmRSS"), peakRss: kib("VmHWM") };
}

// biome-ignore lint/suspicious/noExplicitAny: the server's log lines, read field by field where each is used
function parseJson(line: string): Record<string, any> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function levelName(level: unknown): string {
  return (
    ({ 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" } as Record<string, string>)[
      String(level)
    ] ?? String(level)
  );
}
