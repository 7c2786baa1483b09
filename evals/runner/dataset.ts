// The evals dataset: every `*.jsonl` file in evals/dataset, one conversation per line, read in file-name order.
// Its version is the hash of those files, so a report always says which cases it graded.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

const text = z.string().trim().min(1);

export const caseSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "lower-case letters, digits and dashes"),
    notes: z.string().optional(),
    /** Said to the agent in an earlier session of the same user, before the case (long-term memory set-up). */
    memories: z.array(text).default([]),
    /** The user's turns in one session; every reply is checked, the last one is graded. */
    turns: z.array(text).min(1),
    expect: z
      .object({
        /** Exactly these tools are called (any order); [] means none. Absent: not checked. */
        tools: z.array(text).optional(),
        /** Each appears in the last reply (case-insensitive); `a|b` accepts either. */
        facts: z.array(text).default([]),
        /** Like facts, but they come from `memories` said in the earlier session: cross-session recall. */
        recall: z.array(text).default([]),
        /** Budgets for the last reply; the run's defaults when absent. */
        maxOutputTokens: z.number().int().positive().optional(),
        maxLatencyMs: z.number().int().positive().optional(),
      })
      .strict()
      .default({ facts: [], recall: [] }),
    /** Where the case came from when it was not written by hand (e.g. a user's rating). */
    source: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type EvalCase = z.infer<typeof caseSchema>;

export interface Dataset {
  cases: EvalCase[];
  /** sha256 of the files (names and contents), first 12 hex digits. */
  version: string;
  files: string[];
}

export async function loadDataset(directory: string): Promise<Dataset> {
  const files = (await readdir(directory)).filter((name) => name.endsWith(".jsonl")).sort();
  const hash = createHash("sha256");
  const cases: EvalCase[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    const content = await readFile(join(directory, file), "utf8");
    hash.update(`${file}\n${content}\n`);
    content.split("\n").forEach((line, index) => {
      if (line.trim() === "" || line.trimStart().startsWith("//")) return;
      const where = `${file}:${index + 1}`;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch (error) {
        problems.push(`${where}: not JSON (${(error as Error).message})`);
        return;
      }
      const parsed = caseSchema.safeParse(json);
      if (!parsed.success) {
        problems.push(
          ...parsed.error.issues.map((issue) => `${where}: ${issue.path.join(".") || "case"}: ${issue.message}`),
        );
        return;
      }
      if (seen.has(parsed.data.id)) problems.push(`${where}: duplicate case id "${parsed.data.id}"`);
      seen.add(parsed.data.id);
      cases.push(parsed.data);
    });
  }
  if (problems.length > 0) throw new Error(`The evals dataset has problems:\n- ${problems.join("\n- ")}`);
  if (cases.length === 0) throw new Error(`No cases in ${directory} (*.jsonl)`);
  return { cases, version: hash.digest("hex").slice(0, 12), files };
}
