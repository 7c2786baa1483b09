import { print } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoginDocument, SendMessageDocument, SessionMessageCountDocument } from "./generated/graphql.ts";
import {
  createSession,
  firstSubscriptionResult,
  graphql,
  signUp,
  strongPassword,
  wsClient,
} from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

// Requests me 1 + sessions 1 + 40 × (edge 1 + node 1) = 82 points; costs 2 while the user has no sessions.
const DEAR = `{ me { sessions(first: 40) { edges { node { id } } } } }`;

let app: TestApp;
beforeAll(async () => {
  // In memory, or in Redis when the suite runs with TEST_REDIS_URL.
  // Queued sends, so back-to-back sends meet the rate limit rather than SESSION_BUSY.
  app = await startTestApp({
    RATE_LIMIT_AUTH_PER_15_MIN: "4",
    RATE_LIMIT_SEND_PER_MIN: "2",
    SEND_WHILE_STREAMING: "queue",
  });
});
afterAll(async () => {
  await app?.cleanup();
});

describe("rate limits", () => {
  it("limits sendMessage per user on HTTP and graphql-ws, storing nothing refused", async () => {
    const user = await signUp(app.graphqlUrl); // auth point 1 of 4
    const sessionId = await createSession(app.graphqlUrl, user.token);
    for (const content of ["one", "two"]) {
      const ok = await graphql(app.graphqlUrl, SendMessageDocument, { input: { sessionId, content } }, user.token);
      expect(ok.errors).toBeUndefined();
    }
    const response = await fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${user.token}` },
      body: JSON.stringify({
        query: print(SendMessageDocument),
        variables: { input: { sessionId, content: "three" } },
      }),
    });
    const body = (await response.json()) as any;
    expect(response.status).toBe(429);
    const retryAfter = Number(response.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(body.errors[0].extensions).toEqual({
      code: "RATE_LIMITED",
      retryAfter,
      bucket: "send",
      requestId: expect.any(String),
    });

    const client = wsClient(app.wsUrl, user.token);
    const overWs = await new Promise<any>((resolve) => {
      client.subscribe(
        { query: print(SendMessageDocument), variables: { input: { sessionId, content: "four" } } },
        {
          next: resolve,
          error: (errors) => resolve({ errors }),
          complete: () => undefined,
        },
      );
    });
    await client.dispose();
    expect(overWs.errors[0].extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "send" });

    // Two user messages and their two replies: the refused sends left nothing behind.
    const count = await graphql(app.graphqlUrl, SessionMessageCountDocument, { id: sessionId }, user.token);
    expect(count.data!.session!.messages.totalCount).toBe(4);
  });

  it("limits login and register attempts per client address", async () => {
    const email = `brute-${Date.now()}@example.com`;
    const codes: string[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const result = await graphql(app.graphqlUrl, LoginDocument, { input: { email, password: strongPassword() } });
      codes.push(result.errors?.[0]?.extensions?.code);
    }
    // One point went to the sign-up in the previous test (per address, not per test).
    expect(codes).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED", "RATE_LIMITED"]);
    const register = await graphql(
      app.graphqlUrl,
      `mutation($input: RegisterInput!) { register(input: $input) { token } }`,
      {
        input: { email, password: strongPassword() },
      },
    );
    expect(register.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    expect(register.data ?? null).toBeNull();
  });
});

describe("login attempts per account", () => {
  let perEmail: TestApp;
  beforeAll(async () => {
    perEmail = await startTestApp({ RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN: "2" });
  });
  afterAll(async () => {
    await perEmail?.cleanup();
  });

  it("runs out for one email, however the email is spelled, while others still sign in", async () => {
    const victim = await signUp(perEmail.graphqlUrl);
    const bystander = await signUp(perEmail.graphqlUrl);
    const attempt = (email: string, password: string) =>
      graphql(perEmail.graphqlUrl, LoginDocument, { input: { email, password } });
    expect((await attempt(victim.email, strongPassword())).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect((await attempt(` ${victim.email.toUpperCase()}`, strongPassword())).errors?.[0]?.extensions?.code).toBe(
      "UNAUTHENTICATED",
    );
    const blocked = await attempt(victim.email, victim.password);
    expect(blocked.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "loginEmail" });
    expect(blocked.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(0);
    expect((await attempt(bystander.email, bystander.password)).data?.login.token).toBeTruthy();
  });
});

describe("query cost budget", () => {
  let small: TestApp;
  beforeAll(async () => {
    // Anonymous operations (sign-ups: 12 points each) spend the address's budget, signed-in ones the user's.
    small = await startTestApp({ RATE_LIMIT_QUERY_COST_PER_MIN: "100", TRUSTED_PROXY_HOPS: "1" });
  });
  afterAll(async () => {
    await small?.cleanup();
  });
  const costOf = (result: object) => (result as { extensions?: { cost?: any } }).extensions?.cost;

  it("gives back what a query did not use, so a small budget holds many queries that ask for much", async () => {
    const { token } = await signUp(small.graphqlUrl);
    // Each query needs its 82 points free to start, and keeps only the 2 it used.
    const results = [];
    for (let i = 0; i < 11; i++) results.push(await graphql(small.graphqlUrl, DEAR, {}, token));
    expect(results.slice(0, 10).map((result) => result.errors)).toEqual(Array(10).fill(undefined));
    expect(costOf(results[9]!)).toEqual({
      requestedQueryCost: 82,
      actualQueryCost: 2,
      throttleStatus: { maximumAvailable: 100, currentlyAvailable: 80, resetInSeconds: expect.any(Number) },
    });
    expect(results[10]!.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "cost" });
  });

  it("refuses what does not fit with RATE_LIMITED (bucket cost) on HTTP and graphql-ws, taking nothing", async () => {
    const { token } = await signUp(small.graphqlUrl);
    for (let i = 0; i < 8; i++) await createSession(small.graphqlUrl, token); // 12 points each: 4 left

    const response = await fetch(small.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: DEAR }),
    });
    const body = (await response.json()) as any;
    expect(response.status).toBe(429);
    const retryAfter = Number(response.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(body.data ?? null).toBeNull();
    expect(body.errors[0].extensions).toEqual({
      code: "RATE_LIMITED",
      retryAfter,
      bucket: "cost",
      requestId: expect.any(String),
    });
    expect(body.extensions.cost).toMatchObject({ requestedQueryCost: 82, actualQueryCost: 0 });
    expect(body.extensions.cost.throttleStatus).toMatchObject({ maximumAvailable: 100, currentlyAvailable: 4 });

    const client = wsClient(small.wsUrl, token);
    const overWs = await firstSubscriptionResult(client, { query: DEAR });
    await client.dispose();
    expect(overWs.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "cost" });

    // The refusals took nothing: a query that fits in the 4 points left still runs.
    const cheap = await graphql(small.graphqlUrl, `{ me { id } }`, {}, token);
    expect(cheap.errors).toBeUndefined();
    expect(costOf(cheap).throttleStatus.currentlyAvailable).toBe(3);
  });

  it("charges anonymous operations to the client address, behind trusted proxies the forwarded one", async () => {
    const available = async (address: string) => {
      const response = await fetch(small.graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": address },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
      return costOf(await response.json()).throttleStatus.currentlyAvailable;
    };
    expect(await available("203.0.113.7")).toBe(99);
    expect(await available("203.0.113.7")).toBe(98);
    expect(await available("198.51.100.4, 203.0.113.8")).toBe(99);
  });
});
