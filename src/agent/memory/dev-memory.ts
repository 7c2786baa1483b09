// Memory for the offline dev model: a few deterministic rules stand in for the LLM, so a frontend developer sees
// extraction and recall work on a plane, and the offline evals can check recall. Only plain first-person statements
// are understood ("my name is …", "I live in …"/"I moved to …", "I like …", "I work as/at …", "my favorite … is …");
// questions are ignored. Tests that need other answers script the fake provider (test/support/fake-openai.ts) or a
// fake chat model instead of teaching these rules more.
import type { BaseMessage } from "@langchain/core/messages";
import { MEMORY_EXTRACTION_MARKER, type MemoryUpdate, normalizeMemory } from "./extraction.ts";
import { memoriesInNote } from "../prompts/system-prompt.ts";

interface Rule {
  pattern: RegExp;
  fact: (match: RegExpExecArray) => string;
  /** Facts of one slot replace each other (one name, one home); facts without a slot accumulate. */
  slot?: (match: RegExpExecArray) => string;
}

const value = (match: RegExpExecArray, group = 1) => thirdPerson(match[group] ?? "");
const rules: Rule[] = [
  { pattern: /^my name is (.+)$/i, fact: (m) => `User's name is ${value(m)}`, slot: () => "User's name is " },
  { pattern: /^i (?:live in|moved to) (.+)$/i, fact: (m) => `User lives in ${value(m)}`, slot: () => "User lives in " },
  {
    pattern: /^i work (as|at) (.+)$/i,
    fact: (m) => `User works ${m[1]!.toLowerCase()} ${value(m, 2)}`,
    slot: (m) => `User works ${m[1]!.toLowerCase()} `,
  },
  {
    pattern: /^my favou?rite ([a-z]+(?: [a-z]+)?) is (.+)$/i,
    fact: (m) => `User's favorite ${m[1]!.toLowerCase()} is ${value(m, 2)}`,
    slot: (m) => `User's favorite ${m[1]!.toLowerCase()} is `,
  },
  { pattern: /^i (like|love|enjoy) (.+)$/i, fact: (m) => `User ${m[1]!.toLowerCase()}s ${value(m, 2)}` },
];

const FILLERS = /^(?:(?:and|but|so|also|well|oh|hi|hello|hey|btw|actually|anyway|ok|okay|yes|no)\b[\s,!:-]*)+/i;

/** Facts (new, or replacing `known[i]`) that the rules find in `message`, in order, without duplicates. */
function extractFactsByRules(message: string, known: string[]): MemoryUpdate[] {
  const updates: MemoryUpdate[] = [];
  const seen = new Set(known.map((fact) => fact.toLowerCase()));
  for (const clause of statementClauses(message)) {
    const rule = rules.find((candidate) => candidate.pattern.test(clause));
    const match = rule?.pattern.exec(clause);
    if (!rule || !match || !thirdPerson(match.at(-1) ?? "")) continue;
    const content = normalizeMemory(rule.fact(match));
    if (seen.has(content.toLowerCase())) continue;
    seen.add(content.toLowerCase());
    const slot = rule.slot?.(match).toLowerCase();
    const replaces = slot ? known.findIndex((fact) => fact.toLowerCase().startsWith(slot)) : -1;
    updates.push(replaces >= 0 ? { content, replaces } : { content });
  }
  return updates;
}

/** Statements split into clauses at each new first-person subject; questions are dropped. */
function statementClauses(message: string): string[] {
  const sentences = message.match(/[^.!?;\n]+[.!?;\n]*/g) ?? [];
  return sentences
    .filter((sentence) => !sentence.trim().endsWith("?"))
    .flatMap((sentence) => sentence.split(/(?:,|;|\band\b|\bbut\b)\s*(?=(?:i|my)\b)/i))
    .map((clause) =>
      clause
        .replace(/[.!;,\s]+$/, "")
        .trim()
        .replace(FILLERS, "")
        .trim(),
    )
    .filter(Boolean);
}

/** "my wife" → "their wife", so the stored sentence reads about the user. */
function thirdPerson(text: string): string {
  return text
    .replace(/\bmy\b/gi, "their")
    .replace(/\bme\b/gi, "them")
    .replace(/\bmyself\b/gi, "themselves")
    .replace(/^["'“”]+|["'“”]+$/g, "")
    .trim();
}

/** The dev model's answer to an extraction request (see extraction.ts); undefined for any other conversation. */
export function devMemoryExtractionAnswer(messages: BaseMessage[]): string | undefined {
  const system = messages.find((message) => message.getType() === "system");
  if (!system?.text.startsWith(MEMORY_EXTRACTION_MARKER)) return undefined;
  const request = messages.findLast((message) => message.getType() === "human");
  let parsed: { message?: unknown; known?: Array<{ fact?: unknown }> };
  try {
    parsed = JSON.parse(request?.text ?? "");
  } catch {
    return JSON.stringify({ memories: [] });
  }
  const known = (Array.isArray(parsed.known) ? parsed.known : []).map((item) => String(item?.fact ?? ""));
  const updates = typeof parsed.message === "string" ? extractFactsByRules(parsed.message, known) : [];
  const memories = updates.map((update) => ({ fact: update.content, replaces: update.replaces ?? null }));
  return JSON.stringify({ memories });
}

/** How the dev model's reply names recalled memories: `${DEV_RECALL_PREFIX} fact; fact.` */
export const DEV_RECALL_PREFIX = "I remember from earlier conversations:";

/** Whether `message` is the memory note the agent sends before the user's latest message (not a user turn). */
export function isMemoryNote(message: BaseMessage): boolean {
  return message.getType() === "human" && memoriesInNote(message.text).length > 0;
}

/** What the dev model says about the memories recalled into its memory note ("" when there are none). */
export function devRecallNote(messages: BaseMessage[]): string {
  const facts = messages.filter(isMemoryNote).flatMap((message) => memoriesInNote(message.text));
  return facts.length > 0 ? `${DEV_RECALL_PREFIX} ${facts.join("; ")}.` : "";
}
