// Input rules shared by every transport. Values are validated, never rewritten (except email case/space).
import { z } from "zod";

/** An unpaired UTF-16 surrogate (a well-formed pair is one code point, so `\p{Cs}` never matches it). */
const UNPAIRED_SURROGATE = /\p{Cs}/u;

/**
 * PostgreSQL text cannot hold NUL, and an unpaired surrogate (a JSON `\ud800`) would be stored as U+FFFD:
 * refuse both rather than fail in the database or store something else than was sent.
 */
function storable(rule: z.ZodString) {
  return rule
    .refine((value) => !value.includes("\u0000"), "must not contain NUL characters")
    .refine((value) => !UNPAIRED_SURROGATE.test(value), "must be valid Unicode (no unpaired surrogates)");
}

export const emailRule = storable(z.string().trim().toLowerCase().max(254, "must be at most 254 characters")).pipe(
  z.email("must be a valid email address"),
);

export const passwordRule = storable(
  z
    .string()
    .min(8, "must be at least 8 characters")
    .max(128, "must be at most 128 characters")
    .regex(/\p{Ll}/u, "must contain a lower-case letter")
    .regex(/\p{Lu}/u, "must contain an upper-case letter")
    .regex(/\p{Nd}/u, "must contain a digit")
    .regex(/[^\p{L}\p{Nd}\s]/u, "must contain a symbol"),
);

export const sessionNameRule = storable(
  z.string().trim().min(1, "must not be empty").max(200, "must be at most 200 characters"),
);

/** An API key's name: what its owner calls it in `me.apiKeys` (say, the partner's name). */
export const apiKeyNameRule = storable(
  z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters"),
);

/**
 * Content is stored and sent to the model exactly as typed, so its whole length counts, whitespace included (trimmed,
 * 200,000 ideographic spaces around "hi" would pass as two characters); whitespace alone is refused.
 */
export function messageContentRule(maxChars: number) {
  return storable(z.string())
    .refine((value) => value.trim().length > 0, "must not be empty")
    .refine(
      (value) => value.length <= maxChars || characterCount(value) <= maxChars,
      `must be at most ${maxChars} characters`,
    );
}

/** Longest comment a rating (rateMessage) may carry, counted like message content. */
export const MAX_FEEDBACK_COMMENT_CHARS = 2000;

/** A rating's comment: stored and sent on exactly as typed, so its whole length counts, whitespace included. */
export const feedbackCommentRule = storable(z.string()).refine(
  (value) => value.length <= MAX_FEEDBACK_COMMENT_CHARS || characterCount(value) <= MAX_FEEDBACK_COMMENT_CHARS,
  `must be at most ${MAX_FEEDBACK_COMMENT_CHARS} characters`,
);

/** Counts code points, so an emoji is one character, as a user would count it. */
function characterCount(value: string): number {
  let count = 0;
  for (const _ of value) count += 1;
  return count;
}
