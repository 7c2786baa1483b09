// One load level: a fresh server, C chats set up (not measured), every chat sending at one instant, the figures.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Chat, type ChatOutcome, type LevelCollector, wallNow } from "./chat.ts";
import type { FakeLlm, FakeLlmReport } from "./fake-llm.ts";
import { ServerMetrics, total, type Samples } from "./metrics.ts";
import { type Backend, cpuSeconds, memory, startServer } from "./server.ts";
import { countBy, mapBounded, mb, percentile, sum } from "./stats.ts";

export interface LevelOptions {
  backend: Backend;
  chats: number;
  fake: FakeLlm;
  prod: boolean;
  timeoutMs: number;
  signUpConcurrency: number;
  connectConcurrency: number;
  /** Replies run (and discarded) before the measured ones, so the burst does not meet a cold process. */
  warmup: number;
  log: (line: string) => void;
}

export interface LevelResult {
  database: string;
  chats: number;
  /** Chats whose user, session or subscription could not be set up (they do not send; counted as failed). */
  setupFailed: number;
  /** Completed, with content equal to the deltas. */
  ok: number;
  successPercent: number;
  refused: Record<string, number>;
  /** OVERLOADED refusals without `extensions.retryAfter`. */
  refusedWithoutRetryAfter: number;
  /** Sends answered OVERLOADED and sent again after Retry-After (a chat that then completed counts as ok). */
  overloadRetries: number;
  /** Chats that needed at least one such retry. */
  chatsRetried: number;
  failed: Record<string, number>;
  /** Chats that saw a MessageQueued event; replies restarted (MessageRestarted) in all. */
  sawQueued: number;
  restarts: number;
  /** Resubscriptions after STREAM_OVERFLOW, in all. */
  overflowResumes: number;
  /** Deltas whose text was not the fake's tokens. */
  foreignDeltas: number;
  otherEvents: Record<string, number>;
  ttftMs: { p50?: number; p95?: number; max?: number; n: number };
  /** Send to the model's emission of the first token (ChatOutcome.firstTokenEmittedMs). */
  modelFirstTokenMs: { p50?: number; p95?: number };
  tokenLatencyMs: { p50?: number; p99?: number; max?: number; n: number };
  sendMs: { p50?: number; p95?: number; max?: number };
  tokens: {
    received: number;
    /** From the common start to the last final event. */
    windowSeconds: number;
    deliveredPerSecond: number;
    producedInWindow: number;
    producedPerSecond: number;
  };
  server: {
    /** Replies the client saw complete (MessageCompleted). */
    completedReplies: number;
    /** Replies the server ended between the scrapes, by status (agent_replies_total). */
    repliesEnded: Record<string, number>;
    /** Statements between the before and after scrapes, the scrapes' own readiness queries taken out. */
    dbQueries: number;
    /** dbQueries / replies the server ended (any status), else / completedReplies when the metric is absent. */
    dbQueriesPerReply: number;
    cpuSeconds: number;
    cpuMsPerChat: number;
    peakRssMb?: number;
    /** VmHWM before the sends: the setup's own peak (sign-ups), for comparison. */
    peakRssBeforeSendMb?: number;
    rssBeforeMb?: number;
    rssAfterMb?: number;
    /** Highest agent_active_replies seen (sampled every second during the run). */
    maxActiveReplies?: number;
    /** Highest db_pool_connections{state="waiting"} seen (PostgreSQL only). */
    maxPoolWaiting?: number;
    /** False when the server never went quiet (active replies or queries still moving) before the after-scrape. */
    quietAfter: boolean;
    quietWaitMs: number;
    /** Warning and error log lines of the whole run, by message. */
    log: Record<string, number>;
  };
  fake: FakeLlmReport;
  client: { cpuSeconds: number; eventLoopDelayP99Ms: number; setupSeconds: number };
}

export async function runLevel(options: LevelOptions): Promise<LevelResult> {
  const { backend, chats: count, fake, log } = options;
  const setupStarted = Date.now();
  const server = await startServer({ backend, fakeBaseUrl: fake.baseUrl, prod: options.prod });
  try {
    const metrics = new ServerMetrics(server);
    await metrics.calibrate();
    log(`  server pid ${server.pid} on ${server.url}; signing up ${count} users…`);
    const setupErrors = new Map<string, number>();
    const noteSetupError = (error: unknown) => {
      const key = String((error as Error).message ?? error).slice(0, 160);
      setupErrors.set(key, (setupErrors.get(key) ?? 0) + 1);
    };
    const created = await mapBounded(Array.from({ length: count + options.warmup }), options.signUpConcurrency, () =>
      Chat.create(server.graphqlUrl).catch((error: unknown) => {
        noteSetupError(error);
        return undefined;
      }),
    );
    const warmups = created.splice(count).filter((chat): chat is Chat => chat !== undefined);
    if (warmups.length > 0) {
      log(`  warm-up: ${warmups.length} replies (not measured)…`);
      const ignored: LevelCollector = { tokenLatencies: [], clockOffsetMs: fake.clockOffsetMs, otherEvents: new Map() };
      await Promise.all(
        warmups.map(async (chat, index) => {
          try {
            await chat.subscribe(server.wsUrl);
            await chat.run(server.graphqlUrl, chat.sendBody(index), ignored, options.timeoutMs);
          } catch {
            // a warm-up that fails is only a colder start
          } finally {
            await chat.close();
          }
        }),
      );
    }
    log(`  opening ${created.filter(Boolean).length} graphql-ws subscriptions…`);
    const ready = (
      await mapBounded(created, options.connectConcurrency, async (chat) => {
        if (!chat) return undefined;
        try {
          await chat.subscribe(server.wsUrl);
          return chat;
        } catch (error) {
          noteSetupError(error);
          await chat.close();
          return undefined;
        }
      })
    ).filter((chat): chat is Chat => chat !== undefined);
    for (const [message, n] of setupErrors) log(`  setup error ×${n}: ${message}`);

    // graphql-ws does not acknowledge a subscribe: wait until the server counts them all.
    const subscribed = await metrics.waitForSubscriptions(ready.length, 60_000);
    if (subscribed < ready.length)
      log(`  only ${subscribed} of ${ready.length} subscriptions active on the server; sending anyway`);

    const before = await metrics.waitUntilQuiet();
    await fake.reset();
    const cpuBefore = await cpuSeconds(server.pid);
    const memoryBefore = await memory(server.pid);
    const setupSeconds = (Date.now() - setupStarted) / 1000;
    const bodies = ready.map((chat, index) => chat.sendBody(index));
    const collector: LevelCollector = { tokenLatencies: [], clockOffsetMs: fake.clockOffsetMs, otherEvents: new Map() };
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const clientCpu = process.cpuUsage();

    log(`  ${ready.length} chats send now`);
    const startedAt = wallNow();
    const running = Promise.all(
      ready.map((chat, index) => chat.run(server.graphqlUrl, bodies[index]!, collector, options.timeoutMs)),
    );
    const sampled = sampleWhile(metrics, running);
    const outcomes = await running;
    const finals = outcomes.map((outcome) => outcome.finalAt).filter((at): at is number => at !== undefined);
    const endedAt = finals.length > 0 ? Math.max(...finals) : wallNow();
    const clientCpuUsed = process.cpuUsage(clientCpu);
    loopDelay.disable();
    const fakeReport = await fake.report({ from: startedAt, to: endedAt });
    const peaks = await sampled;

    log("  all chats ended; waiting for the server to go quiet…");
    const after = await metrics.waitUntilQuiet();
    const cpuAfter = await cpuSeconds(server.pid);
    const memoryAfter = await memory(server.pid);
    const fakeTotals = await fake.report();
    await mapBounded(ready, 100, (chat) => chat.close());

    const setupFailed = count - ready.length;
    const completed = outcomes.filter((o) => o.final === "MessageCompleted").length;
    const ok = outcomes.filter(isOk).length;
    const queries = metrics.queries(after.scrape) - metrics.queries(before.scrape);
    const windowSeconds = Math.max(1e-3, (endedAt - startedAt) / 1000);
    const received = outcomes.reduce((n, o) => n + o.tokensReceived, 0);
    const ttfts = outcomes.map((o) => o.ttftMs).filter((ms): ms is number => ms !== undefined);
    const modelFirst = outcomes.map((o) => o.firstTokenEmittedMs).filter((ms): ms is number => ms !== undefined);
    const sends = outcomes.map((o) => o.sendMs).filter((ms): ms is number => ms !== undefined);
    const cpu = cpuAfter - cpuBefore;
    const repliesEnded = byLabel(after.scrape.samples, before.scrape.samples, "agent_replies_total", "status");
    const ended = Object.keys(repliesEnded).length > 0 ? sum(repliesEnded) : completed;
    return {
      database: backend.kind,
      chats: count,
      setupFailed,
      ok,
      successPercent: (100 * ok) / count,
      refused: countBy(outcomes, (o) => (o.refused ? o.sendCode : undefined)),
      refusedWithoutRetryAfter: outcomes.filter((o) => o.sendCode === "OVERLOADED" && o.retryAfter === undefined)
        .length,
      overloadRetries: outcomes.reduce((sum, o) => sum + o.retries, 0),
      chatsRetried: outcomes.filter((o) => o.retries > 0).length,
      failed: { ...countBy(outcomes, failureCode), ...(setupFailed > 0 ? { SETUP: setupFailed } : {}) },
      sawQueued: outcomes.filter((o) => o.sawQueued).length,
      restarts: outcomes.reduce((n, o) => n + o.restarts, 0),
      overflowResumes: outcomes.reduce((n, o) => n + o.overflowResumes, 0),
      foreignDeltas: outcomes.reduce((n, o) => n + o.foreignText, 0),
      otherEvents: Object.fromEntries(collector.otherEvents),
      ttftMs: { p50: percentile(ttfts, 0.5), p95: percentile(ttfts, 0.95), max: percentile(ttfts, 1), n: ttfts.length },
      modelFirstTokenMs: { p50: percentile(modelFirst, 0.5), p95: percentile(modelFirst, 0.95) },
      tokenLatencyMs: {
        p50: percentile(collector.tokenLatencies, 0.5),
        p99: percentile(collector.tokenLatencies, 0.99),
        max: percentile(collector.tokenLatencies, 1),
        n: collector.tokenLatencies.length,
      },
      sendMs: { p50: percentile(sends, 0.5), p95: percentile(sends, 0.95), max: percentile(sends, 1) },
      tokens: {
        received,
        windowSeconds,
        deliveredPerSecond: received / windowSeconds,
        producedInWindow: fakeReport.tokensInWindow,
        producedPerSecond: fakeReport.tokensInWindow / windowSeconds,
      },
      server: {
        completedReplies: completed,
        repliesEnded,
        dbQueries: queries,
        dbQueriesPerReply: ended > 0 ? queries / ended : NaN,
        cpuSeconds: cpu,
        cpuMsPerChat: (1000 * cpu) / count,
        peakRssMb: mb(memoryAfter.peakRss),
        peakRssBeforeSendMb: mb(memoryBefore.peakRss),
        rssBeforeMb: mb(memoryBefore.rss),
        rssAfterMb: mb(memoryAfter.rss),
        maxActiveReplies: peaks.activeReplies,
        maxPoolWaiting: peaks.poolWaiting,
        quietAfter: after.quiet,
        quietWaitMs: after.waitedMs,
        log: Object.fromEntries(server.logCounts),
      },
      fake: { ...fakeTotals, tokensInWindow: fakeReport.tokensInWindow },
      client: {
        cpuSeconds: (clientCpuUsed.user + clientCpuUsed.system) / 1e6,
        eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        setupSeconds,
      },
    };
  } finally {
    await server.stop();
  }
}

function isOk(outcome: ChatOutcome): boolean {
  return outcome.sendCode === undefined && outcome.final === "MessageCompleted" && outcome.contentMatches === true;
}

/** Why a chat failed, as one code; undefined for a success or a refusal. */
function failureCode(outcome: ChatOutcome): string | undefined {
  if (isOk(outcome) || outcome.refused) return undefined;
  if (outcome.sendCode !== undefined) return `send ${outcome.sendCode}`;
  switch (outcome.final) {
    case "MessageFailed":
      return outcome.finalCode ?? "MessageFailed";
    case "MessageCompleted":
      return "CONTENT_MISMATCH";
    case "WS_CLOSED":
      return `WS_CLOSED ${outcome.finalCode ?? ""}`.trim();
    default:
      return outcome.final ?? "UNKNOWN";
  }
}

/** Scrapes once a second until `until` settles: the highest running replies and pool waiters seen. */
async function sampleWhile(
  metrics: ServerMetrics,
  until: Promise<unknown>,
): Promise<{ activeReplies?: number; poolWaiting?: number }> {
  let done = false;
  void until.finally(() => (done = true));
  const peaks: { activeReplies?: number; poolWaiting?: number } = {};
  const max = (a: number | undefined, b: number | undefined) => (b === undefined ? a : Math.max(a ?? 0, b));
  while (!done) {
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 1_000)), until]);
    if (done) break;
    try {
      const { samples } = await metrics.scrape();
      peaks.activeReplies = max(peaks.activeReplies, total(samples, "agent_active_replies"));
      peaks.poolWaiting = max(peaks.poolWaiting, total(samples, "db_pool_connections", 'state="waiting"'));
    } catch {
      // a scrape that times out under load is a missing sample, nothing more
    }
  }
  return peaks;
}

/** A counter's increase between two scrapes, per value of one label (zero increases left out). */
function byLabel(after: Samples, before: Samples, name: string, label: string): Record<string, number> {
  const labelValue = (labels: string) => new RegExp(`${label}="([^"]*)"`).exec(labels)?.[1] ?? "";
  const counts: Record<string, number> = {};
  for (const sample of after.get(name) ?? [])
    counts[labelValue(sample.labels)] = (counts[labelValue(sample.labels)] ?? 0) + sample.value;
  for (const sample of before.get(name) ?? [])
    counts[labelValue(sample.labels)] = (counts[labelValue(sample.labels)] ?? 0) - sample.value;
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0));
}
