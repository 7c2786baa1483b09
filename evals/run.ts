// `npm run evals`: grades the agent on the dataset (or recent Langfuse traces), writes evals/reports/latest.{json,md},
// compares with evals/baseline.json, and exits 1 when a metric misses its threshold (2 on a usage or setup error).
//   npm run evals                            the dataset, offline unless OPENAI_API_KEY / EVAL_JUDGE_MODEL are set
//   npm run evals -- --cases greeting,time-tool --concurrency 2
//   npm run evals -- --update-baseline       this run becomes the baseline (commit evals/baseline.json)
//   npm run evals -- --from-langfuse --since 24h --max-traces 500
//   npm run evals -- --add-from-feedback     rated replies become cases in evals/dataset/from-feedback.jsonl
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { loadEnvFiles } from "../src/config/env-files.ts";
import { loadDataset } from "./runner/dataset.ts";
import { evaluate } from "./runner/evaluate.ts";
import { judgeFromEnv } from "./runner/judge-settings.ts";
import { CHECKS, loadJudgeMetrics } from "./runner/metrics.ts";
import { startEvalApp } from "./runner/pipeline.ts";
import { progressBar } from "./runner/progress.ts";
import { compareWithBaseline, renderMarkdown, renderTable, summarize, timing, type Report } from "./runner/report.ts";

const EVALS_DIR = import.meta.dirname;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      concurrency: { type: "string", default: "4" },
      retries: { type: "string", default: "2" },
      cases: { type: "string" },
      out: { type: "string", default: join(EVALS_DIR, "reports") },
      baseline: { type: "string", default: join(EVALS_DIR, "baseline.json") },
      "update-baseline": { type: "boolean", default: false },
      "max-output-tokens": { type: "string", default: "512" },
      "max-latency-ms": { type: "string", default: "30000" },
      "from-langfuse": { type: "boolean", default: false },
      since: { type: "string", default: "24h" },
      "max-traces": { type: "string", default: "500" },
      "add-from-feedback": { type: "boolean", default: false },
    },
  });
  const { env } = loadEnvFiles({ defaultAppEnv: "development" });
  const concurrency = positive(values.concurrency, "--concurrency");
  const retries = Number(values.retries);
  if (!Number.isInteger(retries) || retries < 0)
    throw new UsageError(`--retries must be 0 or more, got "${values.retries}"`);
  const metrics = await loadJudgeMetrics(join(EVALS_DIR, "metrics"));
  const judge = judgeFromEnv(env);

  if (values["add-from-feedback"]) {
    const { addCasesFromFeedback } = await import("./runner/feedback.ts");
    const added = await addCasesFromFeedback(env, join(EVALS_DIR, "dataset", "from-feedback.jsonl"));
    console.log(
      `${added.added} new cases from rated replies (${added.skipped} already in the dataset) → ${relative(process.cwd(), added.file)}`,
    );
    return 0;
  }
  const started = Date.now();
  let report: Omit<Report, "passed" | "baseline">;
  if (values["from-langfuse"]) {
    const { scoreLangfuseTraces } = await import("./runner/langfuse.ts");
    report = await scoreLangfuseTraces(env, {
      judge,
      metrics,
      concurrency,
      retries,
      since: values.since,
      maxTraces: positive(values["max-traces"], "--max-traces"),
      progress: (total) => progressBar(total),
    });
  } else {
    const dataset = await loadDataset(join(EVALS_DIR, "dataset"));
    const only = values.cases?.split(",").map((id) => id.trim());
    const unknown = only?.filter((id) => !dataset.cases.some((c) => c.id === id)) ?? [];
    if (unknown.length > 0) throw new UsageError(`--cases: no case named ${unknown.join(", ")}`);
    const cases = only ? dataset.cases.filter((c) => only.includes(c.id)) : dataset.cases;
    const app = await startEvalApp(env);
    console.error(`evals: ${cases.length} cases on ${app.model}, judged by ${judge.name}, ${concurrency} at a time`);
    const progress = progressBar(cases.length);
    try {
      const results = await evaluate(cases, {
        run: (evalCase) => app.run(evalCase),
        judge,
        metrics,
        budgets: {
          maxOutputTokens: positive(values["max-output-tokens"], "--max-output-tokens"),
          maxLatencyMs: positive(values["max-latency-ms"], "--max-latency-ms"),
          agentName: app.config.agent.name,
        },
        concurrency,
        retries,
        onCaseDone: (result) =>
          progress.done(result.id, !result.error && Object.values(result.scores).every((score) => score.pass)),
      });
      progress.finish();
      report = {
        kind: "dataset",
        createdAt: new Date().toISOString(),
        model: app.model,
        judge: judge.name,
        dataset: { version: dataset.version, files: dataset.files },
        durationMs: Date.now() - started,
        metrics: summarize([...CHECKS, ...metrics], results),
        timing: timing(results),
        cases: results,
      };
    } finally {
      await app.stop();
    }
  }
  const baseline =
    report.kind === "dataset" && !values["update-baseline"] ? await readBaseline(values.baseline) : undefined;
  const finished: Report = {
    ...report,
    passed: Object.values(report.metrics).every((summary) => summary.passed),
    ...(baseline ? { baseline: compareWithBaseline(report, baseline) } : {}),
  };
  await mkdir(values.out, { recursive: true });
  const name = finished.kind === "langfuse" ? "langfuse" : "latest";
  await writeFile(join(values.out, `${name}.json`), `${JSON.stringify(finished, null, 2)}\n`);
  await writeFile(join(values.out, `${name}.md`), renderMarkdown(finished));
  if (values["update-baseline"]) await writeFile(values.baseline, `${JSON.stringify(finished, null, 2)}\n`);
  console.log(renderTable(finished));
  console.log(
    `\n${finished.passed ? "PASSED" : "FAILED"}: report in ${relative(process.cwd(), join(values.out, `${name}.md`))}${values["update-baseline"] ? `; baseline updated (${relative(process.cwd(), values.baseline)})` : ""}`,
  );
  for (const [metric, summary] of Object.entries(finished.metrics)) {
    if (!summary.passed) console.log(`  ${metric}: ${summary.failingCases.join(", ")}`);
  }
  return finished.passed ? 0 : 1;
}

class UsageError extends Error {}

function positive(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new UsageError(`${flag} must be a positive integer, got "${value}"`);
  return number;
}

async function readBaseline(path: string): Promise<Report | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Report;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`evals: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  },
);
