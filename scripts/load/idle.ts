// The two memory figures: the built server's idle RSS, and what one idle graphql-ws subscription costs.
import { execFileSync } from "node:child_process";
import { Chat } from "./chat.ts";
import type { FakeLlm } from "./fake-llm.ts";
import { ServerMetrics, total, type Samples } from "./metrics.ts";
import { type Backend, memory, REPO, startServer } from "./server.ts";
import { mapBounded, mb } from "./stats.ts";

export interface IdleRssResult {
  database: string;
  server: string;
  /** RSS 5 s after /ready answered, and after `settledAfterSeconds` (stable within 1 % over 3 s). */
  rssAt5sMb?: number;
  rssSettledMb?: number;
  settledAfterSeconds: number;
  peakRssMb?: number;
  heapUsedMb?: number;
  externalMb?: number;
}

export interface IdleSubscriptionsResult {
  database: string;
  server: string;
  requested: number;
  users: number;
  opened: number;
  failed: Record<string, number>;
  /** The server's own count (graphql_active_subscriptions{transport="ws"}) after opening. */
  activeOnServer: number;
  rssBeforeMb?: number;
  rssAfterMb?: number;
  kbPerSubscription: number;
  /** Lowest V8 heap used over five scrapes, before and after. */
  heapUsedBeforeMb?: number;
  heapUsedAfterMb?: number;
  heapKbPerSubscription: number;
  openSeconds: number;
  /** The load client's own RSS with every socket open (it holds the other end). */
  clientRssMb: number;
}

export function build(log: (line: string) => void): void {
  log("npm run build …");
  execFileSync("npm", ["run", "build"], { cwd: REPO, stdio: ["ignore", "ignore", "inherit"] });
}

export async function measureIdleRss(backend: Backend, fake: FakeLlm, prod: boolean): Promise<IdleRssResult> {
  const server = await startServer({ backend, fakeBaseUrl: fake.baseUrl, prod });
  try {
    await sleep(5_000);
    const at5s = await memory(server.pid);
    const settled = await settleRss(server.pid, 0, 30_000);
    const { samples } = await new ServerMetrics(server).scrape();
    const after = await memory(server.pid);
    return {
      database: backend.kind,
      server: serverName(prod),
      rssAt5sMb: mb(at5s.rss),
      rssSettledMb: mb(settled.rss),
      settledAfterSeconds: 5 + settled.waitedMs / 1000,
      peakRssMb: mb(after.peakRss),
      heapUsedMb: mb(total(samples, "nodejs_heap_size_used_bytes")),
      externalMb: mb(total(samples, "nodejs_external_memory_bytes")),
    };
  } finally {
    await server.stop();
  }
}

export async function measureIdleSubscriptions(options: {
  backend: Backend;
  fake: FakeLlm;
  prod: boolean;
  count: number;
  subscriptionsPerUser: number;
  signUpConcurrency: number;
  connectConcurrency: number;
  log: (line: string) => void;
}): Promise<IdleSubscriptionsResult> {
  const { backend, count, log } = options;
  const env: Record<string, string> = count > 19_000 ? { WS_MAX_CONNECTIONS: String(count + 1_000) } : {};
  const server = await startServer({ backend, fakeBaseUrl: options.fake.baseUrl, prod: options.prod, env });
  const clients: Chat[] = [];
  const metrics = new ServerMetrics(server);
  try {
    await metrics.calibrate();
    const users = Math.ceil(count / options.subscriptionsPerUser);
    log(`  server pid ${server.pid}; signing up ${users} users…`);
    const owners = (await mapBounded(Array.from({ length: users }), options.signUpConcurrency, () =>
      Chat.create(server.graphqlUrl),
    )) as Chat[];
    await metrics.waitUntilQuiet();
    await sleep(5_000);
    const before = await settleRss(server.pid, 0, 30_000);
    const heapBefore = await lowestHeap(metrics);

    log(`  opening ${count} graphql-ws connections, one messageStream subscription each…`);
    const failed: Record<string, number> = {};
    const started = Date.now();
    let progress = 0;
    await mapBounded(Array.from({ length: count }), options.connectConcurrency, async (_, index) => {
      const owner = owners[index % owners.length]!;
      const chat = Chat.forSession(owner.token, owner.sessionId);
      try {
        await chat.subscribe(server.wsUrl, 60_000);
        clients.push(chat);
      } catch (error) {
        const key = String((error as Error).message ?? error).slice(0, 120);
        failed[key] = (failed[key] ?? 0) + 1;
        await chat.close().catch(() => {});
      }
      if (++progress % 2_000 === 0) log(`    ${progress} / ${count}`);
    });
    const openSeconds = (Date.now() - started) / 1000;
    const activeOnServer = await metrics.waitForSubscriptions(clients.length, 60_000);
    await sleep(5_000);
    const after = await settleRss(server.pid, 0, 60_000);
    const heapAfter = await lowestHeap(metrics);
    const opened = clients.length;
    return {
      database: backend.kind,
      server: serverName(options.prod),
      requested: count,
      users,
      opened,
      failed,
      activeOnServer,
      rssBeforeMb: mb(before.rss),
      rssAfterMb: mb(after.rss),
      kbPerSubscription: opened > 0 ? (after.rss - before.rss) / 1024 / opened : NaN,
      heapUsedBeforeMb: mb(heapBefore),
      heapUsedAfterMb: mb(heapAfter),
      heapKbPerSubscription:
        opened > 0 && heapBefore !== undefined && heapAfter !== undefined
          ? (heapAfter - heapBefore) / 1024 / opened
          : NaN,
      openSeconds,
      clientRssMb: process.memoryUsage().rss / 2 ** 20,
    };
  } finally {
    log("  closing the sockets…");
    await mapBounded(clients, 200, (chat) => chat.close().catch(() => {}));
    await server.stop();
  }
}

/** Samples RSS every second until three consecutive samples are within 1 % of each other (or `maxMs` passed). */
async function settleRss(pid: number, minMs: number, maxMs: number): Promise<{ rss: number; waitedMs: number }> {
  const started = Date.now();
  await sleep(minMs);
  const recent: number[] = [];
  for (;;) {
    recent.push((await memory(pid)).rss);
    if (recent.length > 3) recent.shift();
    const stable = recent.length === 3 && (Math.max(...recent) - Math.min(...recent)) / Math.max(...recent) < 0.01;
    if (stable || Date.now() - started >= maxMs) return { rss: recent.at(-1)!, waitedMs: Date.now() - started };
    await sleep(1_000);
  }
}

const heapUsed = (samples: Samples) => total(samples, "nodejs_heap_size_used_bytes");

/** The smallest heap used over five scrapes a second apart: closest to the live heap without forcing a GC. */
async function lowestHeap(metrics: ServerMetrics): Promise<number | undefined> {
  let lowest: number | undefined;
  for (let i = 0; i < 5; i++) {
    if (i > 0) await sleep(1_000);
    const heap = heapUsed((await metrics.scrape()).samples);
    if (heap !== undefined) lowest = Math.min(lowest ?? Infinity, heap);
  }
  return lowest;
}
const serverName = (prod: boolean) =>
  prod ? "node dist/main.js (production)" : "node --import tsx src/main.ts (development)";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
