import { createSchema, createYoga } from "graphql-yoga";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useRequestId } from "../src/api/plugins/use-request-id.ts";
import { firstSubscriptionResult, graphql, signUp, wsClient } from "./support/clients.ts";
import { buildTestApp, startTestApp, type InProcessTestApp, type TestApp } from "./support/test-app.ts";

const ORIGIN = "https://app.example.com";
/** In process (`app.fetch` is yoga.fetch); the tests that need a socket `listen()` it. */
let app: InProcessTestApp;
beforeAll(async () => {
  app = await buildTestApp({ ALLOWED_ORIGINS: ORIGIN, MAX_REQUEST_BODY_BYTES: "20000" });
});
afterAll(async () => {
  await app?.cleanup();
});

describe("HTTP guards", () => {
  it("answers CORS preflights for allowed origins only, without credentials", async () => {
    const preflight = (origin: string) =>
      app.fetch(app.graphqlUrl, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization,content-type",
        },
      });
    const allowed = await preflight(ORIGIN);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(allowed.headers.get("access-control-allow-credentials")).not.toBe("true");
    const other = await preflight("https://evil.example");
    expect(other.headers.get("access-control-allow-origin")).not.toBe("https://evil.example");
    expect(other.headers.get("access-control-allow-origin")).not.toBe("*");
  });

  it("refuses a GET without the CSRF header and answers one with it", async () => {
    const url = new URL(app.graphqlUrl);
    url.searchParams.set("query", "{ __typename }");
    const without = await app.fetch(url, { headers: { accept: "application/json" } });
    expect(without.status).toBe(403);
    for (const header of ["x-graphql-yoga-csrf", "apollo-require-preflight"]) {
      const withHeader = await app.fetch(url, { headers: { accept: "application/json", [header]: "1" } });
      expect(((await withHeader.json()) as { data: unknown }).data).toEqual({ __typename: "Query" });
    }
  });

  it("refuses a form-encoded POST (a CSRF vector) and an oversized body, and stays up", async () => {
    // On the socket: the server answers the next request after both refusals.
    const { graphqlUrl } = await app.listen();
    const form = await fetch(graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "query=%7B__typename%7D",
    });
    expect(form.status).toBe(403);
    const huge = await fetch(graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }", variables: { padding: "x".repeat(30_000) } }),
    });
    expect(huge.status).toBe(413);
    expect((await graphql(graphqlUrl, "{ __typename }")).data).toEqual({ __typename: "Query" });
  });

  it("refuses batched requests and malformed JSON with BAD_REQUEST", async () => {
    const batched = await app.fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ query: "{ __typename }" }, { query: "{ __typename }" }]),
    });
    expect(batched.status).toBe(400);
    expect(((await batched.json()) as any).errors[0].extensions.code).toBe("BAD_REQUEST");
    const malformed = await app.fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{oops",
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as any).errors[0].extensions.code).toBe("BAD_REQUEST");
  });
});

describe("strict request parsing", () => {
  it("refuses a query string that is not UTF-8, and caps a chunked body (no Content-Length) with 413", async () => {
    // On the socket: chunked transfer encoding is the HTTP server's.
    const { graphqlUrl } = await app.listen();
    const get = await fetch(`${graphqlUrl}?query=%7B__typename%7D&variables=%7B%22a%22%3A%22%FF%22%7D`, {
      headers: { "x-graphql-yoga-csrf": "1" },
    });
    expect(get.status).toBe(400);
    expect(((await get.json()) as any).errors[0].extensions.code).toBe("BAD_REQUEST");
    const body = new TextEncoder().encode(
      JSON.stringify({ query: "{ __typename }", variables: { padding: "é".repeat(20_000) } }),
    );
    const chunked = await fetch(graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start: (controller) => {
          controller.enqueue(body);
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });
});

describe("request ids", () => {
  const post = (headers: Record<string, string>, query = "{ __typename }") =>
    app.fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query }),
    });

  it("echoes a sane x-request-id and replaces anything else with a fresh UUID", async () => {
    const sane = "req_42:retry-1.A";
    expect((await post({ "x-request-id": sane })).headers.get("x-request-id")).toBe(sane);
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const seen = new Set<string>();
    for (const sent of [undefined, "has space", "x".repeat(129), "semi;colon", '{"json":1}', "<script>"]) {
      const response = await post(sent === undefined ? {} : { "x-request-id": sent });
      const id = response.headers.get("x-request-id")!;
      expect(id, String(sent)).toMatch(uuid);
      seen.add(id);
    }
    expect(seen.size).toBe(6);
  });

  it("puts the id in extensions.requestId of errors raised before, during and after parsing, on HTTP and graphql-ws", async () => {
    const id = "trace-me";
    const refusals = [
      await app.fetch(app.graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": id },
        body: "{oops",
      }),
      await app.fetch(app.graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-request-id": id },
        body: "query=1",
      }),
      await post({ "x-request-id": id }, "{ me { "),
      await post({ "x-request-id": id }, "{ nope }"),
      await post({ "x-request-id": id, authorization: "Bearer not-a-token" }, "{ me { id } }"),
    ];
    for (const response of refusals) {
      const { errors } = (await response.json()) as any;
      expect(errors.length, String(response.status)).toBeGreaterThan(0);
      for (const error of errors) expect(error.extensions.requestId).toBe(id);
    }

    const served = await app.listen();
    const { token } = await signUp(served.graphqlUrl);
    const client = wsClient(served.wsUrl, token);
    const bogusSession = Buffer.from("Session:00000000-0000-0000-0000-000000000000").toString("base64");
    const wsIds = [];
    for (const payload of [
      { query: "{ me { " },
      { query: "{ nope }" },
      { query: `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: me { id }`).join(" ")} }` },
      { query: "query($id: ID!) { session(id: $id) { id } }", variables: { id: bogusSession } },
    ]) {
      const result = await firstSubscriptionResult(client, payload);
      expect(result.errors?.length, payload.query).toBeGreaterThan(0);
      wsIds.push(result.errors![0]!.extensions!.requestId);
    }
    await client.dispose();
    expect(new Set(wsIds).size).toBe(wsIds.length);
    for (const wsId of wsIds) expect(wsId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("masks an unexpected error and logs it once, with the request id the client got", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => lines.push(line) });
    const yoga = createYoga<object, { requestId?: string }>({
      schema: createSchema<{ requestId?: string }>({
        typeDefs: "type Query { requestId: String, failing: String }",
        resolvers: {
          Query: {
            requestId: (_root, _args, context) => context.requestId,
            failing: () => {
              throw new Error("database on fire");
            },
          },
        },
      }),
      logging: logger,
      plugins: [useRequestId({ logger })],
    });
    const ask = async (query: string) => {
      const response = await yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query }),
      });
      return { id: response.headers.get("x-request-id"), body: (await response.json()) as any };
    };

    const ok = await ask("{ requestId }");
    expect(ok.body.data.requestId).toBe(ok.id);
    const failed = await ask("{ failing }");
    expect(failed.body.errors).toEqual([
      expect.objectContaining({
        message: "Unexpected error.",
        extensions: { code: "INTERNAL_SERVER_ERROR", requestId: failed.id },
      }),
    ]);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ requestId: failed.id, err: { message: "database on fire" } });
  });
});

describe("introspection and field suggestions", () => {
  let closed: TestApp;
  beforeAll(async () => {
    closed = await startTestApp({ GRAPHQL_INTROSPECTION: "false", GRAPHQL_FIELD_SUGGESTIONS: "true" });
  });
  afterAll(async () => {
    await closed?.cleanup();
  });
  const INTROSPECTION = `{ __schema { queryType { name } } }`;

  it("answers introspection and suggests fields by default (development/test)", async () => {
    const { graphqlUrl } = await app.listen();
    expect((await graphql(graphqlUrl, INTROSPECTION)).data).toEqual({ __schema: { queryType: { name: "Query" } } });
    expect((await graphql(graphqlUrl, "{ mee { id } }")).errors?.[0]?.message).toContain('Did you mean "me"?');
  });

  it("refuses __schema and __type with INTROSPECTION_DISABLED on HTTP and graphql-ws, and hides suggestions", async () => {
    for (const query of [INTROSPECTION, `{ __type(name: "User") { name } }`]) {
      const http = await graphql(closed.graphqlUrl, query);
      expect(http.data ?? null).toBeNull();
      expect(http.errors?.[0]?.extensions?.code).toBe("INTROSPECTION_DISABLED");
      const client = wsClient(closed.wsUrl);
      const ws = await firstSubscriptionResult(client, { query });
      await client.dispose();
      expect(ws.errors?.[0]?.extensions?.code).toBe("INTROSPECTION_DISABLED");
    }
    expect((await graphql(closed.graphqlUrl, "{ __typename }")).data).toEqual({ __typename: "Query" });
    const typo = await graphql(closed.graphqlUrl, "{ mee { id } }");
    expect(typo.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    expect(typo.errors?.[0]?.message).not.toContain("Did you mean");
  });
});
