// web_search against local providers that misbehave: redirects out of their origin, endless answers, failures that
// name internal addresses. Nothing here reaches the internet.
import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ToolError } from "./tool-error.ts";
import {
  createWebSearchTool,
  MAX_REDIRECTS,
  MAX_RESPONSE_BYTES,
  SEARCH_UNREACHABLE,
  SEARCH_UNREADABLE,
  searchDuckDuckGo,
  searchSearxng,
} from "./web-search.ts";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    }),
  );
});

/** A local HTTP server; `hits` lists the paths it was asked for. */
async function serve(handler: RequestListener): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(new URL(req.url ?? "/", "http://x").pathname);
    handler(req, res);
  });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

const RESULTS = JSON.stringify({
  results: [{ title: "Found", url: "https://example.org/found", content: "A snippet." }],
});

/** The ToolError a search threw, checked to say nothing but `message`. */
async function failure(search: Promise<unknown>, message: string): Promise<ToolError> {
  const error = await search.then(
    () => expect.unreachable("the search should have failed"),
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(ToolError);
  expect((error as ToolError).message).toBe(message);
  return error as ToolError;
}

/** The whole cause chain as one string: what the log gets. */
const detail = (error: unknown): string =>
  error instanceof Error ? `${error.message} ${detail(error.cause)}` : String(error ?? "");

describe("web_search redirects", () => {
  it("follows a redirect within the provider's origin", async () => {
    const provider = await serve((req, res) => {
      if (req.url?.startsWith("/search"))
        return void res.writeHead(302, { location: "/v2/search?q=x&format=json" }).end();
      res.writeHead(200, { "content-type": "application/json" }).end(RESULTS);
    });
    expect(await searchSearxng(provider.url, "x")).toEqual([
      { title: "Found", url: "https://example.org/found", snippet: "A snippet." },
    ]);
    expect(provider.hits).toEqual(["/search", "/v2/search"]);
  });

  it("refuses a redirect to another origin, without asking it anything", async () => {
    const elsewhere = await serve(
      (_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end(RESULTS),
    );
    const provider = await serve(
      (_req, res) => void res.writeHead(307, { location: `${elsewhere.url}/admin?token=1` }).end(),
    );
    const error = await failure(searchSearxng(provider.url, "x"), SEARCH_UNREACHABLE);
    expect(elsewhere.hits).toEqual([]);
    // The log learns where it was sent; the query (the user's text) is not in it.
    expect(detail(error)).toContain(`a redirect to ${elsewhere.url}`);
    // A scheme change is another origin too.
    const downgrade = await serve(
      (_req, res) => void res.writeHead(301, { location: "https://127.0.0.1/html/" }).end(),
    );
    await failure(searchDuckDuckGo(downgrade.url, "x"), SEARCH_UNREACHABLE);
  });

  it(`stops after ${MAX_REDIRECTS} redirects`, async () => {
    let n = 0;
    const loop = await serve((_req, res) => void res.writeHead(302, { location: `/html/?hop=${++n}` }).end());
    await failure(searchDuckDuckGo(loop.url, "x"), SEARCH_UNREACHABLE);
    expect(loop.hits).toHaveLength(MAX_REDIRECTS + 1);
  });
});

describe("web_search answer size", () => {
  it("abandons a 20 MB answer once it passes MAX_RESPONSE_BYTES, without reading the rest", async () => {
    let written = 0;
    let closedEarly = false;
    const endless = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" }); // chunked: no length to refuse up front
      const chunk = Buffer.alloc(64 * 1024, "a");
      const more = () => {
        while (written < 20 * 1024 * 1024) {
          if (res.destroyed) return;
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", more);
        }
        res.end();
      };
      res.on("close", () => (closedEarly = !res.writableFinished));
      more();
    });
    const error = await failure(searchDuckDuckGo(endless.url, "x"), SEARCH_UNREADABLE);
    expect(detail(error)).toContain(`more than ${MAX_RESPONSE_BYTES} bytes`);
    await expect.poll(() => closedEarly).toBe(true);
    expect(written).toBeLessThan(10 * 1024 * 1024);
  });

  it("refuses an answer whose declared length is over the cap before reading it", async () => {
    const big = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": String(MAX_RESPONSE_BYTES + 1) });
      res.write("{"); // and then nothing: only the header can have refused it this fast
    });
    await failure(searchSearxng(big.url, "x"), SEARCH_UNREADABLE);
  });
});

describe("web_search failures say nothing about the provider's internals", () => {
  const internal = "10.0.0.5:443";

  it("an HTTP error whose body names an internal address", async () => {
    const provider = await serve(
      (_req, res) => void res.writeHead(502).end(`upstream connect error: ECONNREFUSED ${internal}`),
    );
    const error = await failure(searchSearxng(provider.url, "x"), SEARCH_UNREACHABLE);
    expect(detail(error)).toContain("HTTP 502");
  });

  it("an answer that is not JSON (a proxy's error text) and a connection refused", async () => {
    const garbled = await serve(
      (_req, res) => void res.writeHead(200, { "content-type": "text/plain" }).end(`no ${internal}`),
    );
    const error = await failure(searchSearxng(garbled.url, "x"), SEARCH_UNREADABLE);
    expect(detail(error)).toContain(internal); // the parser quoted it: fine for the log
    const closed = await serve(() => {});
    const port = new URL(closed.url).port;
    await new Promise((resolve) => servers.pop()!.close(resolve)); // nothing listens there any more
    const refused = await failure(searchDuckDuckGo(closed.url, "x"), SEARCH_UNREACHABLE);
    expect(detail(refused)).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
  });

  it("the tool rethrows a cancel as it is (the tools node reports it as cancelled or timed out)", async () => {
    const hanging = await serve(() => {});
    const tool = createWebSearchTool({ provider: "duckduckgo", url: hanging.url });
    const controller = new AbortController();
    const pending = tool.invoke({ query: "x" }, { signal: controller.signal });
    controller.abort(new Error("cancelled by the user"));
    await expect(pending).rejects.not.toBeInstanceOf(ToolError);
  });
});
