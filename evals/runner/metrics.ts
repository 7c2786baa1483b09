// What a run scores. Judge metrics come from evals/metrics/<name>.md (front matter + the judge's prompt);
// checks are deterministic and need no judge. Every score is in [0, 1] and higher is better: a judge metric whose
// raw score counts something bad (hallucination, toxicity) declares `polarity: lower_is_better` and is flipped.
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

export interface MetricSpec {
  name: string;
  kind: "judge" | "check";
  description: string;
  /** A case passes when its score is at least this. */
  threshold: number;
  /** The metric passes when at least this share of the cases it applies to pass. */
  minPassRate: number;
}

export interface JudgeMetric extends MetricSpec {
  kind: "judge";
  polarity: "higher_is_better" | "lower_is_better";
  /** With {{conversation}}, {{reply}}, {{context}} and {{reference}} placeholders. */
  prompt: string;
}

const unit = z.number().min(0).max(1);
const frontMatterSchema = z
  .object({
    metric: z.string().regex(/^[a-z][a-z0-9_]*$/),
    description: z.string().min(1),
    polarity: z.enum(["higher_is_better", "lower_is_better"]),
    threshold: unit,
    min_pass_rate: unit,
  })
  .strict();

export async function loadJudgeMetrics(directory: string): Promise<JudgeMetric[]> {
  const files = (await readdir(directory)).filter((name) => name.endsWith(".md")).sort();
  return Promise.all(
    files.map(async (file) => {
      const content = await readFile(join(directory, file), "utf8");
      const match = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(content);
      if (!match) throw new Error(`${file}: expected YAML front matter between --- lines, then the prompt`);
      const parsed = frontMatterSchema.safeParse(parseYaml(match[1]!));
      if (!parsed.success)
        throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
      const { metric, description, polarity, threshold, min_pass_rate } = parsed.data;
      if (metric !== basename(file, ".md")) throw new Error(`${file}: metric "${metric}" must match the file name`);
      if (!match[2]!.includes("{{reply}}")) throw new Error(`${file}: the prompt never shows the judge the {{reply}}`);
      return {
        name: metric,
        kind: "judge",
        description,
        polarity,
        threshold,
        minPassRate: min_pass_rate,
        prompt: match[2]!.trim(),
      };
    }),
  );
}

/** The deterministic checks: pass or fail (1 or 0), and each must hold for every case it applies to. */
export const CHECKS: MetricSpec[] = [
  {
    name: "tool_use",
    description: "The expected tools were called, and no other.",
    threshold: 1,
    minPassRate: 1,
    kind: "check",
  },
  {
    name: "reference_facts",
    description: "Every reference fact appears in the last reply.",
    threshold: 1,
    minPassRate: 1,
    kind: "check",
  },
  {
    name: "memory_recall",
    description: "Facts said in an earlier session appear in the reply of a new one.",
    threshold: 1,
    minPassRate: 1,
    kind: "check",
  },
  {
    name: "no_prompt_leak",
    description: "No reply repeats a line of the system prompt.",
    threshold: 1,
    minPassRate: 1,
    kind: "check",
  },
  {
    name: "token_budget",
    description: "The last reply stays within its output-token budget.",
    threshold: 1,
    minPassRate: 1,
    kind: "check",
  },
  {
    name: "latency_budget",
    description: "The last reply completes within its latency budget.",
    threshold: 1,
    minPassRate: 1,
    kind: "check",
  },
  {
    name: "completed",
    description: "Every reply ended COMPLETE (not failed, interrupted or refused).",
    threshold: 1,
    minPassRate: 1,
    kind: "check",
  },
];

/** A raw judge score as reported: in [0, 1], higher is better. */
export function normalizeScore(metric: JudgeMetric, raw: number): number {
  const clamped = Math.min(1, Math.max(0, raw));
  return metric.polarity === "lower_is_better" ? 1 - clamped : clamped;
}
