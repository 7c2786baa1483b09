import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { firstSubscriptionResult, graphql, signUp, wsClient } from "./support/clients.ts";
import { buildTestApp, type InProcessTestApp } from "./support/test-app.ts";

/** In process (`yoga.fetch`); graphql-ws and the HTTP server's own routes (/health, /metrics) `listen()` it. */
let app: InProcessTestApp;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(async () => {
  await app?.cleanup();
});

/** `{ me { sessions { edges { node { messages { edges { node { session { ... } } } } } } } } }` nested `levels` deep. */
function deepQuery(levels: number): string {
  let selection = "id";
  for (let i = 0; i < levels; i++) selection = `session { messages { edges { node { ${selection} } } } }`;
  return `{ me { sessions { edges { node { messages { edges { node { ${selection} } } } } } } } }`;
}

describe("query limits (graphql-armor)", () => {
  it("refuses a 20-level query over HTTP and over graphql-ws", async () => {
    const { token } = await signUp(app);
    const query = deepQuery(4);
    const http = await graphql(app, query, {}, token);
    expect(http.data ?? null).toBeNull();
    expect(http.errors?.[0]?.message).toMatch(/depth limit of 12 exceeded/);
    expect(http.errors?.[0]?.extensions).toEqual({
      code: "QUERY_LIMIT_EXCEEDED",
      limit: "depth",
      requestId: expect.any(String),
    });

    const client = wsClient((await app.listen()).wsUrl, token);
    const ws = await firstSubscriptionResult(client, { query });
    await client.dispose();
    expect(ws.errors?.[0]?.extensions).toEqual({
      code: "QUERY_LIMIT_EXCEEDED",
      limit: "depth",
      requestId: expect.any(String),
    });
  });

  it("refuses an alias bomb", async () => {
    const { token } = await signUp(app);
    const aliases = Array.from({ length: 100 }, (_, i) => `a${i}: me { id }`).join(" ");
    const result = await graphql(app, `{ ${aliases} }`, {}, token);
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.message).toMatch(/Aliases limit of 15 exceeded/);
    expect(result.errors?.[0]?.extensions).toEqual({
      code: "QUERY_LIMIT_EXCEEDED",
      limit: "aliases",
      requestId: expect.any(String),
    });
  });

  it("refuses an oversized document by token count", async () => {
    const fields = Array.from({ length: 2500 }, () => "__typename").join(" ");
    const result = await graphql(app, `{ ${fields} }`);
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.message).toMatch(/Token limit of 2000 exceeded/);
    expect(result.errors?.[0]?.extensions).toEqual({
      code: "QUERY_LIMIT_EXCEEDED",
      limit: "tokens",
      requestId: expect.any(String),
    });
  });

  it("accepts the deepest query a chat client needs", async () => {
    const { token } = await signUp(app);
    const result = await graphql(
      app,
      `{ me { sessions(first: 5) { edges { node { messages(last: 20) { edges { node { id content session { name } } } } } } } } }`,
      {},
      token,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data.me.sessions.edges).toEqual([]);
  });

  it("stays up and answers after every refusal", async () => {
    const { url, graphqlUrl } = await app.listen();
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    const result = await graphql(graphqlUrl, `{ __typename }`);
    expect(result.data).toEqual({ __typename: "Query" });
  });
});

describe("operational endpoints", () => {
  it("runs on the database the environment selects", () => {
    expect(app.database).toBe(process.env.TEST_DATABASE_URL ? "postgresql" : "pglite");
  });

  it("serves GraphiQL to browsers, subscribing over SSE so its Authorization header applies", async () => {
    const response = await app.fetch(app.graphqlUrl, { headers: { accept: "text/html" } });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain("GraphiQL");
    expect(html).toContain('"subscriptionsProtocol":"SSE"');
    // Self-contained: a developer offline still gets a working IDE.
    expect(html).not.toMatch(/<script[^>]+src="?https?:/);
    expect(html).not.toMatch(/<link[^>]+href="?https?:[^>]+stylesheet/);
  });

  it("exposes Prometheus metrics for GraphQL operations and agent replies", async () => {
    await graphql(app, `query HealthProbe { __typename }`);
    const response = await fetch(`${(await app.listen()).url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/graphql_envelop_request_duration_count\{[^}]*operationName="HealthProbe"/);
    expect(text).toContain("agent_replies_total");
    expect(text).toContain("graphql_ws_connections");
  });

  it("answers GET queries over HTTP", async () => {
    const url = new URL(app.graphqlUrl);
    url.searchParams.set("query", "{ me { id } }");
    const response = await app.fetch(url, { headers: { accept: "application/json", "x-graphql-yoga-csrf": "1" } });
    expect(((await response.json()) as { data: unknown }).data).toEqual({ me: null });
  });
});
