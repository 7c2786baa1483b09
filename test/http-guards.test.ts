import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const ORIGIN = "https://app.example.com";
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ ALLOWED_ORIGINS: ORIGIN, MAX_REQUEST_BODY_BYTES: "20000" });
});
afterAll(async () => {
  await app?.cleanup();
});

describe("HTTP guards", () => {
  it("answers CORS preflights for allowed origins only, without credentials", async () => {
    const preflight = (origin: string) =>
      fetch(app.graphqlUrl, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
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
    const without = await fetch(url, { headers: { accept: "application/json" } });
    expect(without.status).toBe(403);
    for (const header of ["x-graphql-yoga-csrf", "apollo-require-preflight"]) {
      const withHeader = await fetch(url, { headers: { accept: "application/json", [header]: "1" } });
      expect(await withHeader.json()).toEqual({ data: { __typename: "Query" } });
    }
  });

  it("refuses a form-encoded POST (a CSRF vector) and an oversized body, and stays up", async () => {
    const form = await fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "query=%7B__typename%7D",
    });
    expect(form.status).toBe(403);
    const huge = await fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }", variables: { padding: "x".repeat(30_000) } }),
    });
    expect(huge.status).toBe(413);
    expect((await graphql(app.graphqlUrl, "{ __typename }")).data).toEqual({ __typename: "Query" });
  });

  it("refuses batched requests and malformed JSON with BAD_REQUEST", async () => {
    const batched = await fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ query: "{ __typename }" }, { query: "{ __typename }" }]),
    });
    expect(batched.status).toBe(400);
    expect(((await batched.json()) as any).errors[0].extensions.code).toBe("BAD_REQUEST");
    const malformed = await fetch(app.graphqlUrl, { method: "POST", headers: { "content-type": "application/json" }, body: "{oops" });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as any).errors[0].extensions.code).toBe("BAD_REQUEST");
  });
});
