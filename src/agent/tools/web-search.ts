// Web search through a configurable provider: DuckDuckGo's HTML endpoint (no key) or a SearXNG instance (JSON API).
// The provider is trusted with our requests, not with where they go: a redirect is followed only within its origin
// (a few hops), an answer is read up to MAX_RESPONSE_BYTES, and a failure is told to the user in general terms (the
// detail, which may name internal hosts, is the ToolError's cause, for the log). What it finds is written by
// strangers: the tools node hands it to the model as data (metadata.untrustedOutputTag).
import { tool } from "@langchain/core/tools";
import { parse } from "node-html-parser";
import { z } from "zod";
import { type UntrustedOutputMetadata, WEB_RESULTS_TAG } from "../prompts/untrusted.ts";
import { ToolError } from "./tool-error.ts";

export interface WebSearchSettings {
  provider: "duckduckgo" | "searxng";
  /** DuckDuckGo: defaults to https://html.duckduckgo.com. SearXNG: the instance's base URL (required). */
  url: string | undefined;
  maxResults?: number;
}

export interface SearchResult {
  title: string;
  url: string;
  snippet: string;
}

const DUCKDUCKGO_URL = "https://html.duckduckgo.com";
// DuckDuckGo's HTML endpoint answers bots without a browser-like agent with an empty page.
const USER_AGENT = "Mozilla/5.0 (compatible; agent-graphql-api/0.1; +https://github.com/)";

/** A provider's answer is read up to this many bytes; a longer one is abandoned (a results page is ~30 KB). */
export const MAX_RESPONSE_BYTES = 1_000_000;
/** Redirects followed per request, each within the provider's own origin. */
export const MAX_REDIRECTS = 3;

/** What the user and the model are told; nothing about hosts, addresses or the provider's own error text. */
export const SEARCH_UNREACHABLE = "the search provider could not be reached";
export const SEARCH_UNREADABLE = "the search provider's answer could not be read";

export function createWebSearchTool(settings: WebSearchSettings) {
  const maxResults = settings.maxResults ?? 5;
  return tool(
    async ({ query }, config) => {
      const signal = config?.signal;
      const results =
        settings.provider === "searxng"
          ? await searchSearxng(settings.url!, query, signal)
          : await searchDuckDuckGo(settings.url ?? DUCKDUCKGO_URL, query, signal);
      if (results.length === 0) return `No results for "${query}".`;
      return results
        .slice(0, maxResults)
        .map((result, index) => `${index + 1}. ${result.title}\n   ${result.url}\n   ${result.snippet}`)
        .join("\n");
    },
    {
      name: "web_search",
      description: "Search the web. Returns the top results with title, URL and a snippet.",
      schema: z.object({ query: z.string().min(1).max(400).describe("What to search for") }),
      metadata: { untrustedOutputTag: WEB_RESULTS_TAG } satisfies UntrustedOutputMetadata,
    },
  );
}

/**
 * The provider's answer to GET `url`, as text. Throws ToolError for every failure of the provider (unreachable,
 * HTTP error, a redirect out of its origin or too many, an answer over MAX_RESPONSE_BYTES); an abort (the run's
 * cancel, the tool's timeout) is rethrown as it is.
 */
async function fetchFromProvider(
  url: URL,
  signal: AbortSignal | undefined,
  headers: Record<string, string> = {},
): Promise<string> {
  let current = url;
  for (let redirects = 0; ; redirects++) {
    let response: Response;
    try {
      response = await fetch(current, {
        signal,
        redirect: "manual",
        headers: { "user-agent": USER_AGENT, ...headers },
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ToolError(SEARCH_UNREACHABLE, { cause: error });
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => {});
      const next = redirectTarget(response.headers.get("location"), current);
      if (!next || next.origin !== url.origin || redirects >= MAX_REDIRECTS) {
        const why = !next
          ? "an invalid redirect"
          : next.origin !== url.origin
            ? `a redirect to ${next.origin}`
            : "too many redirects";
        throw new ToolError(SEARCH_UNREACHABLE, {
          cause: new Error(`${describe(current)} answered with ${why} (refused)`),
        });
      }
      current = next;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new ToolError(SEARCH_UNREACHABLE, {
        cause: new Error(`${describe(current)} answered HTTP ${response.status}`),
      });
    }
    return readCapped(response, current, signal);
  }
}

function redirectTarget(location: string | null, base: URL): URL | undefined {
  if (!location) return undefined;
  try {
    return new URL(location, base);
  } catch {
    return undefined;
  }
}

/** Where a request went, for the log: the query string is the user's text, and logs carry no content. */
function describe(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** The body as UTF-8 text, abandoned (connection closed) as soon as it passes MAX_RESPONSE_BYTES. */
async function readCapped(response: Response, url: URL, signal: AbortSignal | undefined): Promise<string> {
  const tooLarge = () =>
    new ToolError(SEARCH_UNREADABLE, {
      cause: new Error(`${describe(url)} answered more than ${MAX_RESPONSE_BYTES} bytes`),
    });
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > MAX_RESPONSE_BYTES) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_RESPONSE_BYTES) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof ToolError || signal?.aborted) throw error;
    throw new ToolError(SEARCH_UNREACHABLE, { cause: error });
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function searchDuckDuckGo(baseUrl: string, query: string, signal?: AbortSignal): Promise<SearchResult[]> {
  const url = new URL("/html/", baseUrl);
  url.searchParams.set("q", query);
  const html = await fetchFromProvider(url, signal);
  return parse(html)
    .querySelectorAll(".result")
    .map((result) => {
      const link = result.querySelector("a.result__a");
      return {
        title: link?.text.trim() ?? "",
        url: unwrapRedirect(link?.getAttribute("href") ?? ""),
        snippet: result.querySelector(".result__snippet")?.text.trim() ?? "",
      };
    })
    .filter((result) => result.title && result.url);
}

/** DuckDuckGo links go through its redirector (`//duckduckgo.com/l/?uddg=<target>`); keep the target. */
function unwrapRedirect(href: string): string {
  try {
    const url = new URL(href, "https://duckduckgo.com");
    return url.searchParams.get("uddg") ?? url.toString();
  } catch {
    return href;
  }
}

export async function searchSearxng(baseUrl: string, query: string, signal?: AbortSignal): Promise<SearchResult[]> {
  const url = new URL("search", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
  url.searchParams.set("q", query);
  url.searchParams.set("format", "json");
  const text = await fetchFromProvider(url, signal, { accept: "application/json" });
  let body: { results?: Array<{ title?: unknown; url?: unknown; content?: unknown }> };
  try {
    body = JSON.parse(text) as typeof body;
  } catch (error) {
    throw new ToolError(SEARCH_UNREADABLE, {
      cause: new Error(`${describe(url)} answered something other than JSON`, { cause: error }),
    });
  }
  return (Array.isArray(body?.results) ? body.results : [])
    .map((result) => ({ title: asText(result?.title), url: asText(result?.url), snippet: asText(result?.content) }))
    .filter((result) => result.title && result.url);
}

const asText = (value: unknown): string => (typeof value === "string" ? value : "");
