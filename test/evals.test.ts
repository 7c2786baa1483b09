// `npm run evals` end to end, as CI runs it: the real app and pipeline, the CLI's exit code and its reports.
// The gate must be able to fail: against a model that ignores every question it exits 1 and names the cases.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../evals/runner/report.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fake-openai.ts";

const root = join(import.meta.dirname, "..");
let scratch: string;
let fake: FakeOpenAI;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "evals-cli-"));
  fake = await startFakeOpenAI();
});
afterAll(async () => {
  await fake.close();
  await rm(scratch, { recursive: true, force: true });
});

/** Runs the evals CLI; resolves with its exit code, output and the JSON report it wrote. */
function runEvals(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string; report: Report; markdown: string }> {
  const out = join(scratch, `run-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "evals/run.ts", "--out", out, ...args],
      // Only what the test sets: no developer .env, no key of the shell, decides the model.
      {
        cwd: root,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", APP_ENV: "test", ...env },
        timeout: 240_000,
      },
      async (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? -1) : 0;
        try {
          const report = JSON.parse(await readFile(join(out, "latest.json"), "utf8")) as Report;
          resolve({ code, stdout, stderr, report, markdown: await readFile(join(out, "latest.md"), "utf8") });
        } catch (readError) {
          reject(new Error(`no report (exit ${code}): ${stderr}\n${String(readError)}`));
        }
      },
    );
  });
}

describe("npm run evals", () => {
  it("passes on the offline dev model and judge, with a table, both reports and the baseline compared", async () => {
    const { code, stdout, report, markdown } = await runEvals(
      ["--cases", "echo-phrase,time-tool,recall-name,prompt-extraction"],
      {},
    );
    expect(code, stdout).toBe(0);
    expect(report).toMatchObject({ passed: true, model: "offline-dev-model", judge: "offline-deterministic-judge" });
    expect(report.cases.map((c) => c.id)).toEqual(["echo-phrase", "time-tool", "recall-name", "prompt-extraction"]);
    expect(report.cases.find((c) => c.id === "time-tool")!.turns[0]!.toolCalls.map((call) => call.name)).toEqual([
      "current_time",
    ]);
    expect(report.metrics.memory_recall).toMatchObject({ cases: 1, passRate: 1, passed: true });
    expect(report.baseline).toMatchObject({ model: "offline-dev-model", newlyFailing: [] });
    expect(stdout).toMatch(/relevancy\s+judge\s+4\s+1\.000\s+100%/);
    expect(stdout).toContain("PASSED");
    expect(markdown).toContain("# Evals: PASSED");
  }, 240_000);

  it("fails against a model that ignores the question: exit 1, and the report names the failing cases", async () => {
    const { code, stdout, report, markdown } = await runEvals([], {
      OPENAI_API_KEY: "test-key",
      OPENAI_BASE_URL: fake.baseUrl,
      LLM_MODEL: "ignores-everything",
    });
    expect(code, stdout).toBe(1);
    expect(report.passed).toBe(false);
    expect(report.model).toBe("ignores-everything");
    // Every reply is the fake's canned "Hello from the fake OpenAI server."
    expect(report.cases.every((c) => c.turns.at(-1)?.reply === "Hello from the fake OpenAI server.")).toBe(true);
    expect(report.metrics.relevancy).toMatchObject({ passed: false });
    expect(report.metrics.relevancy!.failingCases).toContain("echo-phrase");
    expect(report.metrics.reference_facts!.failingCases).toEqual(
      expect.arrayContaining(["echo-phrase", "summarize-given-text"]),
    );
    expect(report.metrics.tool_use!.failingCases).toEqual(expect.arrayContaining(["time-tool", "date-tool"]));
    expect(report.metrics.memory_recall!.failingCases).toEqual(expect.arrayContaining(["recall-name", "recall-city"]));
    expect(report.baseline!.newlyFailing).toContain("echo-phrase");
    expect(report.baseline!.comparable).toBe(false);
    expect(stdout).toContain("FAILED");
    expect(stdout).toMatch(/relevancy: .*echo-phrase/);
    expect(markdown).toContain("## Failing metrics");
    expect(markdown).toContain("### echo-phrase");
    expect(markdown).toContain("Hello from the fake OpenAI server.");
  }, 240_000);

  it("refuses bad usage with exit 2 and a clear message", async () => {
    const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "evals/run.ts", "--cases", "no-such-case"],
        { cwd: root, env: { PATH: process.env.PATH ?? "", APP_ENV: "test" } },
        (error, _stdout, stderr) => resolve({ code: (error as { code?: number } | null)?.code ?? 0, stderr }),
      );
    });
    expect(result).toEqual({ code: 2, stderr: "evals: --cases: no case named no-such-case\n" });
  });
});
