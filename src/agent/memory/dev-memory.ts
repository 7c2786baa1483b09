// Memory for the offline dev model: deterministic rules stand in for the LLM, so extraction and recall can be
// seen working on a plane. Only plain first-person statements are understood ("my name is …", "I live in …",
// "I like …", "I work as/at …", "my favorite … is …"); questions are ignored.
import type { BaseMessage } from "@langchain/core/messages";
import { MEMORY_EXTRACTION_MARKER, type MemoryUpdate, normalizeMemory } from "./extraction.ts";
import { memoriesInNote } from "../prompts/system-prompt.ts";

interface Rule {
  pattern: RegExp;
  fact: (match: RegExpExecArray) => string;
  /** Facts of one slot replace each other (one name, one home); facts without a slot accumulate. */
  slot?: (match: RegExpExecArray) => string;
  /** A fact this one contradicts ("dislikes tea" replaces "likes tea"). */
  opposite?: (match: RegExpExecArray) => string[];
}

const value = (match: RegExpExecArray, group = 1) => thirdPerson(match[group] ?? "");
const rules: Rule[] = [
  { pattern: /^my name is (.+)$/i, fact: (m) => `User's name is ${value(m)}`, slot: () => "User's name is " },
  { pattern: /^(?:i'm|i am) called (.+)$/i, fact: (m) => `User's name is ${value(m)}`, slot: () => "User's name is " },
  { pattern: /^call me (.+)$/i, fact: (m) => `User's name is ${value(m)}`, slot: () => "User's name is " },
  {
    pattern: /^(?:i (?:currently |now |still )?live|i am living|i'm living) in (.+)$/i,
    fact: (m) => `User lives in ${value(m)}`,
    slot: () => "User lives in ",
  },
  {
    pattern: /^i (?:just |recently )?moved to (.+)$/i,
    fact: (m) => `User lives in ${value(m)}`,
    slot: () => "User lives in ",
  },
  { pattern: /^(?:i'm|i am) from (.+)$/i, fact: (m) => `User is from ${value(m)}`, slot: () => "User is from " },
  {
    pattern: /^i (?:currently |now )?work as (.+)$/i,
    fact: (m) => `User works as ${value(m)}`,
    slot: () => "User works as ",
  },
  {
    pattern: /^i (?:currently |now )?work (?:at|for) (.+)$/i,
    fact: (m) => `User works at ${value(m)}`,
    slot: () => "User works at ",
  },
  {
    pattern: /^my (?:favou?rite) ([a-z]+(?: [a-z]+)?) is (.+)$/i,
    fact: (m) => `User's favorite ${m[1]!.toLowerCase()} is ${value(m, 2)}`,
    slot: (m) => `User's favorite ${m[1]!.toLowerCase()} is `,
  },
  {
    pattern: /^i (?:don't|do not|dont) (?:really )?(?:like|enjoy) (.+)$/i,
    fact: (m) => `User dislikes ${value(m)}`,
    opposite: (m) => [`User likes ${value(m)}`, `User loves ${value(m)}`, `User enjoys ${value(m)}`],
  },
  {
    pattern: /^i (?:really |also |truly )?(?:hate|dislike) (.+)$/i,
    fact: (m) => `User dislikes ${value(m)}`,
    opposite: (m) => [`User likes ${value(m)}`, `User loves ${value(m)}`, `User enjoys ${value(m)}`],
  },
  {
    pattern: /^i (?:really |also |do |truly )*(like|love|enjoy|prefer) (.+)$/i,
    fact: (m) => `User ${m[1]!.toLowerCase()}s ${value(m, 2)}`,
    opposite: (m) => [`User dislikes ${value(m, 2)}`],
  },
];

const FILLERS = /^(?:(?:and|but|so|also|well|oh|hi|hello|hey|btw|by the way|actually|anyway|ok|okay|yes|no)\b[\s,!:-]*)+/i;

/** Facts (new, or replacing `known[i]`) that the rules find in `message`, in order, without duplicates. */
export function extractFactsByRules(message: string, known: string[]): MemoryUpdate[] {
  const updates: MemoryUpdate[] = [];
  const seen = new Set(known.map((fact) => fact.toLowerCase()));
  for (const clause of statementClauses(message)) {
    for (const rule of rules) {
      const match = rule.pattern.exec(clause);
      if (!match) continue;
      if (!thirdPerson(match.at(-1) ?? "")) break;
      const content = normalizeMemory(rule.fact(match));
      if (seen.has(content.toLowerCase())) break;
      seen.add(content.toLowerCase());
      const slot = rule.slot?.(match).toLowerCase();
      const opposites = new Set(rule.opposite?.(match).map((fact) => fact.toLowerCase()));
      const replaces = known.findIndex((fact) =>
        slot ? fact.toLowerCase().startsWith(slot) : opposites.has(fact.toLowerCase()),
      );
      updates.push(replaces >= 0 ? { content, replaces } : { content });
      break;
    }
  }
  return updates;
}

/** Statements split into clauses at each new first-person subject; questions are dropped. */
function statementClauses(message: string): string[] {
  const sentences = message.match(/[^.!?;\n]+[.!?;\n]*/g) ?? [];
  return sentences
    .filter((sentence) => !sentence.trim().endsWith("?"))
    .flatMap((sentence) => sentence.split(/(?:,|;|\band\b|\bbut\b)\s*(?=(?:i|i'm|my|call me)\b)/i))
    .map((clause) => clause.replace(/[.!;,\s]+$/, "").trim().replace(FILLERS, "").trim())
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
