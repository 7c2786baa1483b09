// The committed dataset and metric files load, and bad ones are refused with every problem named.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDataset } from "./dataset.ts";
import { loadJudgeMetrics } from "./metrics.ts";

const evalsDir = join(import.meta.dirname, "..");
const scratch = await mkdtemp(join(tmpdir(), "evals-dataset-"));
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe("dataset and metric files", () => {
  it("the committed dataset loads, with unique ids and a version that changes with its content", async () => {
    const dataset = await loadDataset(join(evalsDir, "dataset"));
    expect(dataset.cases.length).toBeGreaterThanOrEqual(10);
    expect(dataset.version).toMatch(/^[0-9a-f]{12}$/);
    const dir = join(scratch, "copy");
    await mkdir(dir);
    await writeFile(join(dir, "a.jsonl"), '{"id":"one","turns":["hi"]}\n');
    const before = await loadDataset(dir);
    await writeFile(join(dir, "a.jsonl"), '{"id":"one","turns":["hello"]}\n');
    expect((await loadDataset(dir)).version).not.toBe(before.version);
  });

  it("names every problem of a bad dataset: line, field, duplicate id", async () => {
    const dir = join(scratch, "bad");
    await mkdir(dir);
    await writeFile(
      join(dir, "x.jsonl"),
      [
        '{"id":"a","turns":["hi"]}',
        "{not json",
        '{"id":"a","turns":[]}',
        '{"id":"a","turns":["x"],"expect":{"tool":["x"]}}',
        '{"id":"a","turns":["x"]}',
      ].join("\n"),
    );
    const error = await loadDataset(dir).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain("x.jsonl:2: not JSON");
    expect(message).toContain("x.jsonl:3: turns:");
    expect(message).toContain("x.jsonl:4: expect:");
    expect(message).toContain('x.jsonl:5: duplicate case id "a"');
  });

  it("the five judge metrics load with polarity and thresholds; hallucination and toxicity are lower-is-better", async () => {
    const metrics = await loadJudgeMetrics(join(evalsDir, "metrics"));
    expect(metrics.map((m) => [m.name, m.polarity])).toEqual([
      ["conciseness", "higher_is_better"],
      ["hallucination", "lower_is_better"],
      ["helpfulness", "higher_is_better"],
      ["relevancy", "higher_is_better"],
      ["toxicity", "lower_is_better"],
    ]);
    for (const metric of metrics) expect(metric.prompt).toContain("{{reply}}");
  });

  it("refuses a metric file without polarity or with a threshold outside [0, 1]", async () => {
    const dir = join(scratch, "metrics");
    await mkdir(dir);
    await writeFile(
      join(dir, "tone.md"),
      "---\nmetric: tone\ndescription: d\nthreshold: 2\nmin_pass_rate: 1\n---\n{{reply}}\n",
    );
    await expect(loadJudgeMetrics(dir)).rejects.toThrow(/tone\.md: polarity: .*threshold/s);
  });
});
