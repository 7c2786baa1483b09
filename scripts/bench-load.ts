// `npm run bench:load`: how many concurrent chats the shipped server holds, and at what cost. Numbers, not
// assertions (issue 11). A fake OpenAI-compatible model streams timestamped tokens at a fixed rate from a process of
// its own; the server runs as `npm start` runs it, in a process of its own, restarted on a fresh database for every
// level; this process plays C chats that each subscribe over graphql-ws and then all send at one instant.
//
//   npm run bench:load                                 levels 100, 500, 1000, 1500 on embedded PGlite
//   DATABASE_URL=… REDIS_URL=… npm run bench:load      … and again on PostgreSQL + Redis
//   npm run bench:load -- --levels 20,100 --tokens 40 --rate 50
//   npm run bench:load -- --idle-rss                   idle RSS of the built server (npm run build; node dist/main.js)
//   npm run bench:load -- --idle-subscriptions 10000   server memory per idle graphql-ws subscription
// `--help` lists every flag.
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { interrupted } from "./load/children.ts";
import { startFakeLlm } from "./load/fake-llm.ts";
import {
  build,
  measureIdleRss,
  measureIdleSubscriptions,
  type IdleRssResult,
  type IdleSubscriptionsResult,
} from "./load/idle.ts";
import { runLevel, type LevelResult } from "./load/level.ts";
import { type Backend, BENCH_ENV, REPO } from "./load/server.ts";
import { fixed, formatCounts, sum, table } from "./load/stats.ts";

const USAGE = `npm run bench:load -- [flags]

  --levels 100,500,1000,1500   concurrent chats per level (each level on a freshly started server and database)
  --tokens 40                  tokens per reply streamed by the fake model
  --rate 50                    tokens per second per reply
  --timeout 120                seconds a chat waits for its final event before it counts as failed (TIMEOUT)
  --databases pglite,postgres  which backends; default pglite, plus postgres when DATABASE_URL is set
                               (PostgreSQL gets a database created for each run and dropped after; Redis, when
                               REDIS_URL is set, a unique REDIS_KEY_PREFIX whose keys are deleted after)
  --prod                       run the built server (node dist/main.js, APP_ENV=production) instead of npm start's
                               node --import tsx src/main.ts --default-app-env=development
  --no-build                   with --prod / --idle-rss: use dist/ as it is instead of running npm run build
  --idle-rss                   measure the built server's idle RSS (always the built server)
  --idle-subscriptions N       open N graphql-ws connections with one messageStream subscription each; report the
                               server's memory per subscription
  --subscriptions-per-user 50  with --idle-subscriptions: subscriptions per signed-up user
  --signup-concurrency 8       sign-ups at once during setup
  --connect-concurrency 50     graphql-ws connections being opened at once during setup
  --warmup 5                   replies run (by other users) before each level's measured burst, not measured
  --out FILE                   JSON report path (default bench-results/load-<timestamp>.json)

The load levels run unless only --idle-rss / --idle-subscriptions are given (add --levels to run both).`;

const { values: flags } = parseArgs({
  options: {
    levels: { type: "string" },
    tokens: { type: "string", default: "40" },
    rate: { type: "string", default: "50" },
    timeout: { type: "string", default: "120" },
    databases: { type: "string" },
    prod: { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    "idle-rss": { type: "boolean", default: false },
    "idle-subscriptions": { type: "string" },
    "subscriptions-per-user": { type: "string", default: "50" },
    "signup-concurrency": { type: "string", default: "8" },
    "connect-concurrency": { type: "string", default: "50" },
    warmup: { type: "string", default: "5" },
    out: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}

const positive = (name: string, value: string | undefined): number => {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    console.error(`--${name}: expected a positive number, got ${JSON.stringify(value)}\n\n${USAGE}`);
    process.exit(2);
  }
  return number;
};
const nonNegative = (name: string, value: string | undefined): number =>
  value === "0" ? 0 : Math.round(positive(name, value));
const levels = (flags.levels ?? "100,500,1000,1500")
  .split(",")
  .map((level) => Math.round(positive("levels", level.trim())));
const tokens = Math.round(positive("tokens", flags.tokens));
const rate = positive("rate", flags.rate);
const timeoutMs = positive("timeout", flags.timeout) * 1000;
const idleSubscriptions =
  flags["idle-subscriptions"] === undefined
    ? undefined
    : Math.round(positive("idle-subscriptions", flags["idle-subscriptions"]));
const runLevels = flags.levels !== undefined || (!flags["idle-rss"] && idleSubscriptions === undefined);

const backends: Backend[] = [];
const wanted = flags.databases?.split(",").map((name) => name.trim()) ?? [
  "pglite",
  ...(process.env.DATABASE_URL ? ["postgres"] : []),
];
for (const name of wanted) {
  if (name === "pglite") backends.push({ kind: "pglite" });
  else if (name === "postgres") {
    if (!process.env.DATABASE_URL) {
      console.error("--databases postgres needs DATABASE_URL (a server where the bench may CREATE DATABASE)");
      process.exit(2);
    }
    const redisUrl = process.env.REDIS_URL || undefined;
    backends.push({ kind: redisUrl ? "postgres+redis" : "postgres", databaseUrl: process.env.DATABASE_URL, redisUrl });
  } else {
    console.error(`--databases: unknown backend "${name}" (pglite, postgres)`);
    process.exit(2);
  }
}

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const startedAt = new Date();
const outPath =
  flags.out ?? join(REPO, "bench-results", `load-${startedAt.toISOString().replaceAll(":", "-").slice(0, 19)}.json`);
const fdLimit = openFileLimit();
const report = {
  startedAt: startedAt.toISOString(),
  command: `npm run bench:load -- ${process.argv.slice(2).join(" ")}`.trim(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGb: totalmem() / 2 ** 30,
    node: process.version,
    openFileLimit: fdLimit,
    loadAverageAtStart: loadavg(),
  },
  settings: {
    tokens,
    rate,
    timeoutSeconds: timeoutMs / 1000,
    prod: flags.prod,
    fakeClockOffsetMs: 0,
    serverEnv: BENCH_ENV,
  },
  levels: [] as LevelResult[],
  idleRss: [] as IdleRssResult[],
  idleSubscriptions: [] as IdleSubscriptionsResult[],
  errors: [] as Array<{ what: string; error: string }>,
};
const save = async () => {
  await mkdir(dirname(outPath), { recursive: true });
  await writeFile(outPath, `${JSON.stringify(report, null, 2)}\n`);
};

const socketsNeeded = Math.max(runLevels ? 2 * Math.max(...levels) : 0, 2 * (idleSubscriptions ?? 0)) + 200;
if (fdLimit !== undefined && fdLimit < socketsNeeded) {
  console.warn(
    `warning: ulimit -n is ${fdLimit}; this run needs about ${socketsNeeded} open files (raise it: ulimit -n ${socketsNeeded})`,
  );
}

if (loadavg()[0]! > 0.5 * cpus().length) {
  console.warn(
    `warning: 1-minute load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs: something else may be running (or a run just ended); the figures would show it`,
  );
}

if ((flags.prod || flags["idle-rss"]) && !flags["no-build"]) {
  try {
    build(log);
  } catch (error) {
    console.error(`npm run build failed: ${String(error)}`);
    process.exit(1);
  }
}

const fake = await startFakeLlm({ tokens, rate });
log(
  `fake model on ${fake.baseUrl} (pid ${fake.pid}): ${tokens} tokens at ${rate} tokens/s per reply; clock offset ${fake.clockOffsetMs.toFixed(3)} ms`,
);
report.settings.fakeClockOffsetMs = fake.clockOffsetMs;

try {
  if (runLevels) {
    for (const backend of backends) {
      for (const chats of levels) {
        log(`${backend.kind}, ${chats} chats`);
        try {
          const result = await runLevel({
            backend,
            chats,
            fake,
            prod: flags.prod,
            timeoutMs,
            signUpConcurrency: Math.round(positive("signup-concurrency", flags["signup-concurrency"])),
            connectConcurrency: Math.round(positive("connect-concurrency", flags["connect-concurrency"])),
            warmup: nonNegative("warmup", flags.warmup),
            log,
          });
          report.levels.push(result);
          log(`  ${summaryLine(result)}`);
        } catch (error) {
          await interrupted();
          report.errors.push({ what: `${backend.kind} ${chats}`, error: String((error as Error).stack ?? error) });
          log(`  level failed: ${String((error as Error).message ?? error).split("\n")[0]}`);
        }
        await save();
      }
    }
  }
  if (flags["idle-rss"]) {
    // The issue's figure is for PostgreSQL when it is given; PGlite is measured too, for comparison.
    for (const backend of backends) {
      log(`idle RSS, built server, ${backend.kind}`);
      try {
        report.idleRss.push(await measureIdleRss(backend, fake, true));
      } catch (error) {
        await interrupted();
        report.errors.push({ what: `idle RSS ${backend.kind}`, error: String((error as Error).stack ?? error) });
        log(`  failed: ${String((error as Error).message ?? error).split("\n")[0]}`);
      }
      await save();
    }
  }
  if (idleSubscriptions !== undefined) {
    const backend = backends.at(-1)!;
    log(`${idleSubscriptions} idle subscriptions, ${backend.kind}`);
    try {
      report.idleSubscriptions.push(
        await measureIdleSubscriptions({
          backend,
          fake,
          prod: flags.prod,
          count: idleSubscriptions,
          subscriptionsPerUser: Math.round(positive("subscriptions-per-user", flags["subscriptions-per-user"])),
          signUpConcurrency: Math.round(positive("signup-concurrency", flags["signup-concurrency"])),
          connectConcurrency: Math.max(100, Math.round(positive("connect-concurrency", flags["connect-concurrency"]))),
          log,
        }),
      );
    } catch (error) {
      await interrupted();
      report.errors.push({
        what: `idle subscriptions ${backend.kind}`,
        error: String((error as Error).stack ?? error),
      });
      log(`  failed: ${String((error as Error).message ?? error).split("\n")[0]}`);
    }
    await save();
  }
} finally {
  await interrupted(); // after Ctrl-C: wait here until the clean-up exits the process
  await fake.stop();
}

printReport();
await save();
console.log(`\nJSON: ${outPath}`);
process.exit(0);

function summaryLine(r: LevelResult): string {
  return (
    `ok ${fixed(r.successPercent, 1)} %, refused ${sum(r.refused)}, failed ${sum(r.failed)}, ` +
    `TTFT p95 ${fixed(r.ttftMs.p95)} ms, ${fixed(r.server.dbQueriesPerReply, 1)} queries/reply, ` +
    `${fixed(r.server.cpuMsPerChat)} ms CPU/chat, peak ${fixed(r.server.peakRssMb)} MB`
  );
}

function printReport(): void {
  if (report.levels.length > 0) {
    console.log(
      `\nLoad: ${tokens} tokens at ${rate} tokens/s per reply; ${flags.prod ? "built server (production)" : "npm start (development)"}\n`,
    );
    const rows = [
      [
        "database",
        "chats",
        "ok %",
        "refused",
        "failed",
        "TTFT p50",
        "TTFT p95",
        "tok +p50",
        "tok +p99",
        "deliv tok/s",
        "prod tok/s",
        "q/reply",
        "CPU ms/chat",
        "peak RSS MB",
      ],
      ...report.levels.map((r) => [
        r.database,
        String(r.chats),
        fixed(r.successPercent, 1),
        String(sum(r.refused)),
        String(sum(r.failed)),
        fixed(r.ttftMs.p50),
        fixed(r.ttftMs.p95),
        fixed(r.tokenLatencyMs.p50, 1),
        fixed(r.tokenLatencyMs.p99, 1),
        fixed(r.tokens.deliveredPerSecond),
        fixed(r.tokens.producedPerSecond),
        fixed(r.server.dbQueriesPerReply, 1),
        fixed(r.server.cpuMsPerChat),
        fixed(r.server.peakRssMb),
      ]),
    ];
    console.log(table(rows));
    console.log("(TTFT and tok + in ms; tok + = a token's receive time minus its emission time at the fake model)");
    for (const r of report.levels) {
      const notes = [
        sum(r.refused) > 0
          ? `refused ${formatCounts(r.refused)}${r.refusedWithoutRetryAfter ? `, ${r.refusedWithoutRetryAfter} OVERLOADED without retryAfter` : ""}`
          : "",
        sum(r.failed) > 0 ? `failed ${formatCounts(r.failed)}` : "",
        r.chatsRetried > 0 ? `${r.chatsRetried} chats sent again after OVERLOADED (${r.overloadRetries} retries)` : "",
        r.sawQueued > 0 ? `${r.sawQueued} saw MessageQueued` : "",
        r.restarts > 0 ? `${r.restarts} MessageRestarted` : "",
        r.overflowResumes > 0 ? `${r.overflowResumes} resubscriptions after STREAM_OVERFLOW` : "",
        r.foreignDeltas > 0 ? `${r.foreignDeltas} deltas with text that is not the model's tokens` : "",
        `at most ${r.server.maxActiveReplies ?? "?"} replies running at once (server), ${r.fake.maxInFlight} streaming from the model${r.server.maxPoolWaiting ? `, up to ${r.server.maxPoolWaiting} waiting for a pooled connection` : ""}`,
        r.server.quietAfter
          ? ""
          : `server not quiet after ${fixed(r.server.quietWaitMs / 1000)} s (queries/CPU may be cut short)`,
        `model's first token p50/p95 ${fixed(r.modelFirstTokenMs.p50)}/${fixed(r.modelFirstTokenMs.p95)} ms after send, sendMessage p50/p95 ${fixed(r.sendMs.p50)}/${fixed(r.sendMs.p95)} ms`,
        `window ${fixed(r.tokens.windowSeconds, 1)} s, load client ${fixed(r.client.cpuSeconds, 1)} s CPU (loop p99 ${fixed(r.client.eventLoopDelayP99Ms)} ms), fake ${fixed(r.fake.cpuSeconds, 1)} s CPU, ${r.fake.memoryRequests} memory extractions`,
      ].filter(Boolean);
      console.log(`  ${r.database} ${r.chats}: ${notes.join("; ")}`);
    }
  }
  if (report.idleRss.length > 0) {
    console.log("\nIdle RSS (node dist/main.js, production)\n");
    console.log(
      table([
        ["database", "RSS at 5 s MB", "RSS settled MB", "heap used MB"],
        ...report.idleRss.map((r) => [
          r.database,
          fixed(r.rssAt5sMb),
          `${fixed(r.rssSettledMb)} (${fixed(r.settledAfterSeconds)} s)`,
          fixed(r.heapUsedMb),
        ]),
      ]),
    );
  }
  if (report.idleSubscriptions.length > 0) {
    console.log("\nIdle graphql-ws subscriptions\n");
    console.log(
      table([
        ["database", "server", "opened", "on server", "RSS before MB", "RSS after MB", "KB/sub (RSS)", "KB/sub (heap)"],
        ...report.idleSubscriptions.map((r) => [
          r.database,
          r.server,
          `${r.opened}/${r.requested}`,
          String(r.activeOnServer),
          fixed(r.rssBeforeMb),
          fixed(r.rssAfterMb),
          fixed(r.kbPerSubscription, 1),
          fixed(r.heapKbPerSubscription, 1),
        ]),
      ]),
    );
    for (const r of report.idleSubscriptions) if (sum(r.failed) > 0) console.log(`  failed: ${formatCounts(r.failed)}`);
  }
  for (const { what, error } of report.errors)
    console.log(`\n${what} did not run: ${error.split("\n").slice(0, 3).join(" ")}`);
}

function openFileLimit(): number | undefined {
  try {
    return Number(execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim()) || undefined;
  } catch {
    return undefined;
  }
}
