// Web search through a configurable provider: DuckDuckGo's HTML endpoint (no key) or a SearXNG instance (JSON API).
import { tool } from "@langchain/core/tools";
import { parse } from "node-html-parser";
import { z } from "zod";

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

export function createWebSearchTool(settings: WebSearchSettings) {
  const maxResults = settings.maxResults ?? 5;
  return tool(
    async ({ query }, config) => {
      const signal = config?.signal;
      const results = settings.provider === "searxng"
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
    },
  );
}

async function fetchOk(url: URL, signal: AbortSignal | undefined, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(url, { ...init, signal, headers: { "user-agent": USER_AGENT, ...init.headers } });
  if (!response.ok) throw new Error(`search provider answered HTTP ${response.status}`);
  return response;
}

export async function searchDuckDuckGo(baseUrl: string, query: string, signal?: AbortSignal): Promise<SearchResult[]> {
  const url = new URL("/html/", baseUrl);
  url.searchParams.set("q", query);
  const html = await (await fetchOk(url, signal)).text();
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
  const body = (await (await fetchOk(url, signal, { headers: { accept: "application/json" } })).json()) as {
    results?: Array<{ title?: string; url?: string; content?: string }>;
  };
  return (body.results ?? [])
    .map((result) => ({ title: result.title ?? "", url: result.url ?? "", snippet: result.content ?? "" }))
    .filter((result) => result.title && result.url);
}
