// The server's own figures, read from GET /metrics (Prometheus text).
import type { ServerUnderTest } from "./server.ts";

/** Sample values by metric name; one entry per label set. */
export type Samples = Map<string, Array<{ labels: string; value: number }>>;

export function parse(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, name, labels = "", value] = match;
    const list = samples.get(name!) ?? [];
    list.push({ labels, value: Number(value) });
    samples.set(name!, list);
  }
  return samples;
}

/** The sum over every label set (those whose labels contain `labelFilter`), or undefined when not exported. */
export function total(samples: Samples, name: string, labelFilter?: string): number | undefined {
  const list = samples.get(name);
  if (!list) return undefined;
  return list
    .filter((sample) => !labelFilter || sample.labels.includes(labelFilter))
    .reduce((sum, sample) => sum + sample.value, 0);
}

export interface Scrape {
  samples: Samples;
  /** 1 for the first scrape of this server, 2 for the next… */
  ordinal: number;
}

/**
 * Scrapes one server and keeps count, because a scrape is not free: /metrics runs the readiness check (a `SELECT 1`)
 * for `app_dependency_up`, so every scrape adds to `db_query_duration_seconds_count`. `calibrate()` measures how
 * much; `queries()` takes it out again.
 */
export class ServerMetrics {
  private scrapes = 0;
  queriesPerScrape = 0;

  constructor(private readonly server: ServerUnderTest) {}

  async scrape(): Promise<Scrape> {
    const response = await fetch(`${this.server.url}/metrics`, {
      headers: this.server.metricsAuthorization ? { authorization: this.server.metricsAuthorization } : {},
      signal: AbortSignal.timeout(30_000),
    });
    if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
    const samples = parse(await response.text());
    return { samples, ordinal: ++this.scrapes };
  }

  /** On an idle server: the smallest step of the query counter between consecutive scrapes. */
  async calibrate(): Promise<void> {
    let previous = await this.scrape();
    let smallest = Infinity;
    for (let i = 0; i < 4; i++) {
      await sleep(200);
      const next = await this.scrape();
      smallest = Math.min(smallest, rawQueries(next.samples) - rawQueries(previous.samples));
      previous = next;
    }
    this.queriesPerScrape = Number.isFinite(smallest) ? Math.max(0, smallest) : 0;
  }

  /** SQL statements run up to this scrape, without the ones the scrapes themselves caused. */
  queries(scrape: Scrape): number {
    return rawQueries(scrape.samples) - this.queriesPerScrape * scrape.ordinal;
  }

  /**
   * Waits until the server is quiet: no reply running (agent_active_replies 0, when exported) and the query counter
   * (scrapes excepted, ±1) unchanged for `stableMs`, so background work after a reply (memory extraction) is counted
   * with it. Gives up after `timeoutMs` and says so.
   */
  async waitUntilQuiet({
    stableMs = 1_000,
    timeoutMs = 120_000,
  } = {}): Promise<{ scrape: Scrape; quiet: boolean; waitedMs: number }> {
    const started = Date.now();
    let reference = await this.scrape();
    let referenceAt = Date.now();
    for (;;) {
      await sleep(250);
      const now = await this.scrape();
      const active = total(now.samples, "agent_active_replies") ?? 0;
      if (active > 0 || Math.abs(this.queries(now) - this.queries(reference)) > 1) {
        reference = now;
        referenceAt = Date.now();
      } else if (Date.now() - referenceAt >= stableMs) {
        return { scrape: now, quiet: true, waitedMs: Date.now() - started };
      }
      if (Date.now() - started > timeoutMs) return { scrape: now, quiet: false, waitedMs: Date.now() - started };
    }
  }

  /** Polls the graphql-ws subscription gauge until it reaches `expected`; returns the last count seen. */
  async waitForSubscriptions(expected: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const active = total((await this.scrape()).samples, "graphql_active_subscriptions", 'transport="ws"') ?? expected;
      if (active >= expected || Date.now() > deadline) return active;
      await sleep(250);
    }
  }
}

const rawQueries = (samples: Samples) => total(samples, "db_query_duration_seconds_count") ?? NaN;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
