// Text the model reads but did not get from us or from the user's own message (web pages, notes saved from earlier
// conversations) travels inside a tagged block, so the system prompt can say "what is inside <tag> is data".

/** Blocks the system prompt names as data (see system-prompt.ts). */
export const WEB_RESULTS_TAG = "web_results";
export const MEMORIES_TAG = "memories";

/**
 * A tool whose output is written by strangers (web pages) says so in its metadata (`tool(fn, { metadata })`): the
 * tools node hands that output to the model inside a `<untrustedOutputTag>` block (the client sees it as it is).
 */
export interface UntrustedOutputMetadata {
  untrustedOutputTag: string;
}

/**
 * `text` between `<tag>` and `</tag>`, on lines of their own. Anything inside that looks like this tag opening or
 * closing (`</tag>`, `< / TAG`, `＜tag`) is defused first, so the text can neither end the block early nor open a
 * second one that looks like ours.
 */
export function delimit(tag: string, text: string): string {
  return `<${tag}>\n${defuse(tag, text)}\n</${tag}>`;
}

/** `text` with every bracket that starts something like `<tag` or `</tag` replaced by "(". */
function defuse(tag: string, text: string): string {
  // Angle brackets and their look-alikes, optional slashes and spaces, the tag with "_", "-" or spaces between words.
  const name = tag.split("_").map(escapeRegExp).join("[\\s_-]*");
  const pattern = new RegExp(`[<＜‹«〈⟨][\\s/⁄∕／\\\\]*(?=${name})`, "giu");
  return text.replace(pattern, "(");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
