// A local stand-in for the search providers: DuckDuckGo's HTML endpoint and SearXNG's JSON API. It answers
// "[broken]" queries with HTTP 503 and "[slow]" ones never.
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeSearch {
  url: string;
  queries: string[];
  close(): Promise<void>;
}

export const FAKE_RESULT = { title: "GraphQL over WebSockets", url: "https://example.org/graphql-ws", snippet: "The protocol." };

export async function startFakeSearch(): Promise<FakeSearch> {
  const queries: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const query = url.searchParams.get("q") ?? "";
    queries.push(query);
    if (query.includes("[slow]")) return;
    if (query.includes("[broken]")) return void res.writeHead(503).end("unavailable");
    if (url.pathname === "/html/") {
      const target = encodeURIComponent(FAKE_RESULT.url);
      res.writeHead(200, { "content-type": "text/html" }).end(`<html><body>
        <div class="result results_links web-result">
          <h2 class="result__title"><a class="result__a" href="//duckduckgo.com/l/?uddg=${target}&amp;rut=x">${FAKE_RESULT.title}</a></h2>
          <a class="result__snippet" href="#">${FAKE_RESULT.snippet}</a>
        </div></body></html>`);
    } else if (url.pathname === "/search") {
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({ results: [{ title: FAKE_RESULT.title, url: FAKE_RESULT.url, content: FAKE_RESULT.snippet }] }),
      );
    } else res.writeHead(404).end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    queries,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
