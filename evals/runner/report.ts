// The report of a run: per metric its mean, pass rate and verdict against its threshold; the worst cases with
// their replies and reasons; and what changed against the committed baseline. Written as JSON and Markdown.
import type { CaseResult } from "./evaluate.ts";
import type { MetricSpec } from "./metrics.ts";

export interface MetricSummary {
  kind: MetricSpec["kind"];
  description: string;
  /** Cases the metric applies to (checks skip cases without the expectation). */
  cases: number;
  mean: number;
  passRate: number;
  threshold: number;
  minPassRate: number;
  passed: boolean;
  failingCases: string[];
}

export interface Report {
  kind: "dataset" | "langfuse";
  createdAt: string;
  model: string;
  judge: string;
  dataset?: { version: string; files: string[] };
  passed: boolean;
  durationMs: number;
  metrics: Record<string, MetricSummary>;
  /** Over the graded (last) replies of the cases that ran. */
  timing?: Timing;
  cases: CaseResult[];
  baseline?: BaselineComparison;
}

export interface Timing {
  firstTokenMs: { p50: number | null; p95: number | null };
  latencyMs: { p50: number | null; p95: number | null };
  outputTokensMean: number | null;
}

export interface BaselineComparison {
  createdAt: string;
  model: string;
  judge: string;
  datasetVersion?: string;
  /** Whether model, judge and dataset are the ones the baseline was made with: deltas mean most then. */
  comparable: boolean;
  metrics: Record<
    string,
    { mean: number | null; meanDelta: number | null; passRate: number | null; passRateDelta: number | null }
  >;
  /** Cases that passed every metric in the baseline and now fail one. */
  newlyFailing: string[];
  nowPassing: string[];
}

export function summarize(metrics: MetricSpec[], cases: CaseResult[]): Record<string, MetricSummary> {
  const summaries: Record<string, MetricSummary> = {};
  for (const metric of metrics) {
    const scored = cases.filter((result) => result.scores[metric.name]);
    const scores = scored.map((result) => result.scores[metric.name]!);
    const passing = scores.filter((score) => score.pass).length;
    const passRate = scores.length ? passing / scores.length : 1;
    summaries[metric.name] = {
      kind: metric.kind,
      description: metric.description,
      cases: scores.length,
      mean: scores.length ? round(scores.reduce((sum, score) => sum + score.score, 0) / scores.length) : 1,
      passRate: round(passRate),
      threshold: metric.threshold,
      minPassRate: metric.minPassRate,
      // A metric that applies to no case is not evidence of anything, but it cannot fail either.
      passed: passRate >= metric.minPassRate,
      failingCases: scored.filter((result) => !result.scores[metric.name]!.pass).map((result) => result.id),
    };
  }
  return summaries;
}

export function timing(cases: CaseResult[]): Timing {
  const graded = cases.flatMap((result) => result.turns.slice(-1));
  const tokens = graded.flatMap((turn) => (turn.outputTokens === null ? [] : [turn.outputTokens]));
  return {
    firstTokenMs: percentiles(graded.flatMap((turn) => (turn.firstTokenMs === null ? [] : [turn.firstTokenMs]))),
    latencyMs: percentiles(graded.map((turn) => turn.latencyMs)),
    outputTokensMean: tokens.length ? Math.round(tokens.reduce((a, b) => a + b, 0) / tokens.length) : null,
  };
}

function percentiles(values: number[]): { p50: number | null; p95: number | null } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : null;
  return { p50: at(0.5), p95: at(0.95) };
}

export function compareWithBaseline(report: Omit<Report, "baseline" | "passed">, baseline: Report): BaselineComparison {
  const metrics: BaselineComparison["metrics"] = {};
  for (const [name, summary] of Object.entries(report.metrics)) {
    const before = baseline.metrics[name];
    metrics[name] = {
      mean: before?.mean ?? null,
      meanDelta: before ? round(summary.mean - before.mean) : null,
      passRate: before?.passRate ?? null,
      passRateDelta: before ? round(summary.passRate - before.passRate) : null,
    };
  }
  const passedAll = (result: CaseResult) => !result.error && Object.values(result.scores).every((score) => score.pass);
  const before = new Map(baseline.cases.map((result) => [result.id, passedAll(result)]));
  return {
    createdAt: baseline.createdAt,
    model: baseline.model,
    judge: baseline.judge,
    datasetVersion: baseline.dataset?.version,
    comparable:
      baseline.model === report.model &&
      baseline.judge === report.judge &&
      baseline.dataset?.version === report.dataset?.version,
    metrics,
    newlyFailing: report.cases
      .filter((result) => before.get(result.id) === true && !passedAll(result))
      .map((result) => result.id),
    nowPassing: report.cases
      .filter((result) => before.get(result.id) === false && passedAll(result))
      .map((result) => result.id),
  };
}

const WORST_CASES = 5;
const EXCERPT = 400;

export function renderMarkdown(report: Report): string {
  const lines: string[] = [];
  lines.push(`# Evals: ${report.passed ? "PASSED" : "FAILED"}`, "");
  lines.push(`- model under test: \`${report.model}\`; judge: \`${report.judge}\``);
  if (report.dataset)
    lines.push(
      `- dataset: ${report.dataset.files.join(", ")} (version ${report.dataset.version}), ${report.cases.length} cases`,
    );
  else lines.push(`- ${report.cases.length} Langfuse traces`);
  lines.push(`- ${report.createdAt}, ${(report.durationMs / 1000).toFixed(1)} s`);
  if (report.timing) {
    const { firstTokenMs, latencyMs, outputTokensMean } = report.timing;
    lines.push(
      `- graded replies: first token p50 ${firstTokenMs.p50 ?? "–"} ms / p95 ${firstTokenMs.p95 ?? "–"} ms, final event p50 ${latencyMs.p50 ?? "–"} ms / p95 ${latencyMs.p95 ?? "–"} ms, ${outputTokensMean ?? "–"} output tokens on average`,
    );
  }
  lines.push("");
  lines.push(table(report), "");
  const failing = Object.entries(report.metrics).filter(([, summary]) => !summary.passed);
  if (failing.length > 0) {
    lines.push("## Failing metrics", "");
    for (const [name, summary] of failing) {
      lines.push(
        `- **${name}**: ${pct(summary.passRate)} of ${summary.cases} cases pass (needs ${pct(summary.minPassRate)}); failing: ${summary.failingCases.join(", ")}`,
      );
    }
    lines.push("");
  }
  const worst = worstCases(report.cases);
  if (worst.length > 0) {
    lines.push("## Worst cases", "");
    for (const result of worst) {
      lines.push(`### ${result.id}`, "");
      if (result.notes) lines.push(`_${result.notes}_`, "");
      if (result.error) lines.push(`**Error:** ${result.error}`, "");
      const last = result.turns.at(-1);
      if (last) {
        lines.push(
          `> **user:** ${oneLine(last.user)}`,
          ">",
          `> **reply:** ${oneLine(last.reply).slice(0, EXCERPT)}${last.reply.length > EXCERPT ? "…" : ""}`,
          "",
        );
      }
      for (const [name, score] of Object.entries(result.scores).filter(([, s]) => !s.pass)) {
        lines.push(`- ${name}: ${score.score} — ${score.reason}`);
      }
      lines.push("");
    }
  }
  if (report.baseline) lines.push(...baselineSection(report.baseline));
  return `${lines.join("\n").trimEnd()}\n`;
}

function table(report: Report): string {
  const rows = [
    "| metric | kind | cases | mean | pass rate | threshold | needs | Δ mean | Δ pass rate | |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const [name, summary] of Object.entries(report.metrics)) {
    const change = report.baseline?.metrics[name];
    rows.push(
      `| ${name} | ${summary.kind} | ${summary.cases} | ${summary.mean.toFixed(3)} | ${pct(summary.passRate)} | ${summary.threshold} | ${pct(summary.minPassRate)} | ${signed(change?.meanDelta)} | ${signed(change?.passRateDelta, pct)} | ${summary.passed ? "ok" : "**FAIL**"} |`,
    );
  }
  return rows.join("\n");
}

/** A plain-text table for the terminal. */
export function renderTable(report: Report): string {
  const header = ["metric", "kind", "cases", "mean", "pass", "needs", "Δmean", ""];
  const rows = Object.entries(report.metrics).map(([name, s]) => [
    name,
    s.kind,
    String(s.cases),
    s.mean.toFixed(3),
    pct(s.passRate),
    pct(s.minPassRate),
    signed(report.baseline?.metrics[name]?.meanDelta),
    s.passed ? "ok" : "FAIL",
  ]);
  const widths = header.map((_, i) => Math.max(header[i]!.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function baselineSection(baseline: BaselineComparison): string[] {
  const lines = ["## Against the baseline", ""];
  lines.push(
    `Baseline of ${baseline.createdAt}: model \`${baseline.model}\`, judge \`${baseline.judge}\`, dataset ${baseline.datasetVersion ?? "–"}.`,
  );
  if (!baseline.comparable)
    lines.push(
      "",
      "**Not like for like:** the model, judge or dataset differ from the baseline's; read the deltas with care.",
    );
  lines.push(
    "",
    `- newly failing cases: ${baseline.newlyFailing.join(", ") || "none"}`,
    `- now passing: ${baseline.nowPassing.join(", ") || "none"}`,
    "",
  );
  return lines;
}

function worstCases(cases: CaseResult[]): CaseResult[] {
  const failures = (result: CaseResult) =>
    Object.values(result.scores).filter((score) => !score.pass).length + (result.error ? 10 : 0);
  const total = (result: CaseResult) => Object.values(result.scores).reduce((sum, score) => sum + score.score, 0);
  return cases
    .filter((result) => failures(result) > 0)
    .sort((a, b) => failures(b) - failures(a) || total(a) - total(b))
    .slice(0, WORST_CASES);
}

const round = (value: number) => Math.round(value * 1000) / 1000;
const pct = (value: number) => `${Math.round(value * 1000) / 10}%`;
const oneLine = (text: string) => text.replace(/\s+/g, " ").trim();
function signed(value: number | null | undefined, format: (v: number) => string = (v) => v.toFixed(3)): string {
  if (value === null || value === undefined) return "–";
  return value > 0 ? `+${format(value)}` : value < 0 ? `-${format(-value)}` : "0";
}
