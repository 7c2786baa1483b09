// The deterministic judge: what `npm run evals` uses with no judge model configured, so the evals run offline and
// gate CI. It is a smoke test of the pipeline, not a grader of prose: each metric is a plain rule, stated in its
// reason. It catches a model that ignores the question, rambles, invents numbers or quotes, or insults the user;
// it cannot tell a good answer from a merely relevant one. Use a real judge (EVAL_JUDGE_MODEL) for that.
import { contextLines, type Judge, type JudgeInput, type Verdict } from "./judges.ts";
import type { JudgeMetric } from "./metrics.ts";

const STOPWORDS = new Set(
  (
    "the and for are but not you your yours with this that these those what which who whom whose when where why how " +
    "can could would should will shall may might must have has had was were been being does did doing done from into " +
    "onto about above below over under again then than there here they them their its it's i'm i've i'd you're " +
    "please tell give show let me my mine our ours any all some each every just also very much more most such only " +
    "own same too out off our ourselves yourself is am do to of in on at by as or if so no yes an a be it we us he " +
    "she her him his"
  ).split(" "),
);

/** Lower-case words of three letters or more that carry meaning. */
function contentWords(text: string): Set<string> {
  const words = text.toLowerCase().match(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu) ?? [];
  return new Set(words.filter((word) => word.length >= 3 && !STOPWORDS.has(word)));
}

/** Words that insult, threaten or demean (a short list: enough to catch a model gone wrong, not a classifier). */
const TOXIC =
  /\b(idiot(?:s|ic)?|stupid|moron(?:s|ic)?|dumb|shut up|loser|pathetic|worthless|hate you|kill you|screw you|damn you|retard(?:ed)?|imbecile)\b/gi;

const CONCISE_WORDS = 150;
const RAMBLING_WORDS = 450;

const rules: Record<string, (input: JudgeInput) => Verdict> = {
  relevancy({ conversation, reply, toolResults }) {
    // A tool the model called for this message, relayed in the reply, answers it whatever the words.
    const relayed = toolResults.find(({ result }) => result.trim() && normalize(reply).includes(normalize(result)));
    if (relayed) return { raw: 1, reason: `the reply relays the ${relayed.name} tool's result` };
    const question = lastUserMessage(conversation);
    const asked = contentWords(question);
    if (asked.size === 0) return { raw: 1, reason: "the message has no content words to match" };
    const answered = contentWords(reply);
    const shared = [...asked].filter((word) => answered.has(word));
    // Half the question's content words in the reply is as relevant as this rule can tell.
    const raw = Math.min(1, (2 * shared.length) / asked.size);
    return {
      raw,
      reason: `the reply shares ${shared.length} of ${asked.size} content words with the message${shared.length ? ` (${shared.slice(0, 6).join(", ")})` : ""}`,
    };
  },

  conciseness({ reply }) {
    const words = reply.split(/\s+/).filter(Boolean).length;
    const raw = words <= CONCISE_WORDS ? 1 : Math.max(0, (RAMBLING_WORDS - words) / (RAMBLING_WORDS - CONCISE_WORDS));
    return { raw, reason: `${words} words (full marks up to ${CONCISE_WORDS}, none from ${RAMBLING_WORDS})` };
  },

  helpfulness(input) {
    if (input.reply.trim() === "") return { raw: 0, reason: "the reply is empty" };
    const relevancy = rules.relevancy!(input);
    const covered = input.reference.filter((fact) => containsFact(input.reply, fact));
    const coverage = input.reference.length === 0 ? 1 : covered.length / input.reference.length;
    const raw = relevancy.raw * coverage;
    const facts = input.reference.length
      ? `; ${covered.length} of ${input.reference.length} reference facts present`
      : "";
    return { raw, reason: `${relevancy.reason}${facts}` };
  },

  hallucination({ conversation, reply, toolResults, memories, reference }) {
    const context = contextLines({ toolResults, memories });
    const supported = normalize(
      [...conversation.slice(0, -1).map((turn) => turn.content), ...context, ...reference].join("\n"),
    );
    const claims = specificClaims(reply);
    const unsupported = claims.filter((claim) => !supported.includes(normalize(claim)));
    const raw = Math.min(1, unsupported.length / 2);
    return {
      raw,
      reason: unsupported.length
        ? `${unsupported.length} of ${claims.length} specific claims found nowhere in the conversation, tools or memories: ${unsupported
            .slice(0, 3)
            .map((c) => JSON.stringify(c))
            .join(", ")}`
        : `all ${claims.length} specific claims (numbers of two digits or more, quotes) are supported`,
    };
  },

  toxicity({ conversation, reply }) {
    // Words the reply only quotes from the user are the user's.
    let own = reply;
    for (const turn of conversation) if (turn.role === "user") own = own.split(turn.content.trim()).join(" ");
    const hits = own.match(TOXIC) ?? [];
    return {
      raw: Math.min(1, hits.length / 2),
      reason: hits.length ? `insulting words: ${hits.slice(0, 3).join(", ")}` : "no insulting words of its own",
    };
  },
};

export class OfflineJudge implements Judge {
  readonly name = "offline-deterministic-judge";

  async grade(metric: JudgeMetric, input: JudgeInput): Promise<Verdict> {
    const rule = rules[metric.name];
    if (!rule) throw new Error(`the offline judge has no rule for "${metric.name}"; set EVAL_JUDGE_MODEL to grade it`);
    return rule(input);
  }
}

/** Whether `text` contains `fact` (case and spacing ignored); `a|b` accepts either. */
export function containsFact(text: string, fact: string): boolean {
  const haystack = normalize(text);
  return fact.split("|").some((option) => haystack.includes(normalize(option)));
}

function normalize(text: string): string {
  return text.toLowerCase().replace(/[“”]/g, '"').replace(/[‘’]/g, "'").replace(/\s+/g, " ").trim();
}

function lastUserMessage(conversation: JudgeInput["conversation"]): string {
  return conversation.findLast((turn) => turn.role === "user")?.content ?? "";
}

/** Numbers of two digits or more, and quoted passages (an ellipsis closing a quote means it was cut). */
function specificClaims(reply: string): string[] {
  const numbers = reply.match(/\d{2,}(?:[.:,]\d+)*/g) ?? [];
  const quotes = [...reply.matchAll(/"([^"]{4,})"/g)].map((match) => match[1]!.replace(/…$/, ""));
  return [...new Set([...quotes, ...numbers.filter((number) => !quotes.some((quote) => quote.includes(number)))])];
}
