// `npm run evals -- --add-from-feedback`: replies users rated (rateMessage) become dataset cases, each once.
// Users' messages may hold personal data: review the file before committing it.
import { appendFile } from "node:fs/promises";
import { dirname } from "node:path";
import { loadConfig } from "../../src/config/index.ts";
import { openDatabase } from "../../src/persistence/database.ts";
import { listRatedReplies, type RatedReply } from "../../src/services/feedback.ts";
import { type EvalCase, loadDataset } from "./dataset.ts";

const EXCERPT = 300;

export async function addCasesFromFeedback(
  env: Record<string, string | undefined>,
  file: string,
): Promise<{ added: number; skipped: number; file: string }> {
  const config = loadConfig({ ...env, LOG_LEVEL: "silent" });
  const database = await openDatabase({ ...config.database, dataDir: config.dataDir });
  let rated: RatedReply[];
  try {
    rated = await listRatedReplies(database.prisma, {});
  } finally {
    await database.close();
  }
  const known = new Set<string>();
  try {
    for (const existing of (await loadDataset(dirname(file))).cases) {
      known.add(existing.id);
      if (typeof existing.source?.messageId === "string") known.add(existing.source.messageId);
    }
  } catch (error) {
    if (!/No cases in/.test((error as Error).message)) throw error;
  }
  const fresh = rated.filter((reply) => !known.has(reply.messageId) && reply.userMessage.trim() !== "");
  if (fresh.length > 0)
    await appendFile(file, fresh.map((reply) => `${JSON.stringify(caseFromRating(reply))}\n`).join(""));
  return { added: fresh.length, skipped: rated.length - fresh.length, file };
}

function caseFromRating(reply: RatedReply): EvalCase {
  const excerpt = reply.reply.length > EXCERPT ? `${reply.reply.slice(0, EXCERPT)}…` : reply.reply;
  const said = reply.comment ? `: "${reply.comment}"` : "";
  return {
    id: `feedback-${reply.messageId.toLowerCase()}`,
    notes: `A user rated this reply ${reply.rating} on ${reply.ratedAt.toISOString().slice(0, 10)}${said}. The reply then: "${excerpt}"`,
    memories: [],
    turns: [reply.userMessage],
    expect: { facts: [], recall: [] },
    source: {
      kind: "feedback",
      messageId: reply.messageId,
      rating: reply.rating,
      comment: reply.comment,
      ratedAt: reply.ratedAt.toISOString(),
    },
  };
}
