import { getIntrospectionQuery } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { introspectionPrices } from "../src/api/plugins/use-query-cost.ts";
import { schema } from "../src/api/schema/index.ts";
import { MySessionsDocument, SendMessageDocument, SessionHistoryDocument } from "./generated/graphql.ts";
import {
  createSession,
  firstSubscriptionResult,
  graphql,
  signUp,
  wsClient,
  MESSAGE_STREAM,
} from "./support/clients.ts";
import { buildTestApp, type InProcessTestApp } from "./support/test-app.ts";

/** In process (`yoga.fetch`); the graphql-ws and SSE tests `listen()` it. */
let app: InProcessTestApp;
beforeAll(async () => {
  app = await buildTestApp(); // GRAPHQL_MAX_COST at its default, 1000
});
afterAll(async () => {
  await app?.cleanup();
});

// me 1 + sessions 1 + pageInfo 1 + first × (edge 1 + node 1); totalCount, cursor, id and name are scalars (0).
const PAGE = `query($first: Int) { me { sessions(first: $first) { totalCount pageInfo { hasNextPage } edges { cursor node { id name } } } } }`;
// me 1 + sessions (1 + n × (edge 1 + node 1 + messages (1 + n × (edge 1 + node 1)))).
const NESTED = `query($n: Int) { me { sessions(first: $n) { edges { node { messages(first: $n) { edges { node { id } } } } } } } }`;
const nestedCost = (n: number) => 2 + n * (3 + 2 * n);
// The session's messages, each message's session and its messages again: far over 1000 points.
const DEAR_CREATE = `mutation { createSession(input: { name: "Too dear" }) { session { id
  messages(first: 100) { edges { node { session { messages(first: 100) { edges { node { id } } } } } } } } } }`;
const COUNT = `{ me { sessions { totalCount } } }`;

/** `extensions.cost` of a result (the shared client types leave `extensions` out). */
const costOf = (result: object) => (result as { extensions?: { cost?: any } }).extensions?.cost;

describe("query cost", () => {
  it("prices an operation before it runs, from its document and its variables", async () => {
    const { token } = await signUp(app);
    const three = await graphql(app, PAGE, { first: 3 }, token);
    expect(costOf(three).requestedQueryCost).toBe(9);
    const seven = await graphql(app, PAGE, { first: 7 }, token);
    expect(costOf(seven).requestedQueryCost).toBe(17);
    // No `first`: priced at Pothos's maximum page size, 100.
    const unsized = await graphql(app, PAGE, {}, token);
    expect(costOf(unsized).requestedQueryCost).toBe(203);

    // The chat screen's own operations (test/operations/chat.graphql), far under the limit.
    const sessionId = await createSession(app, token);
    const sessions = await graphql(app, MySessionsDocument, {}, token); // first: 20 by default
    expect(costOf(sessions).requestedQueryCost).toBe(43);
    const history = await graphql(app, SessionHistoryDocument, { id: sessionId }, token); // last: 50
    expect(costOf(history).requestedQueryCost).toBe(102);
    // A mutation root field costs 10 more: 10 + payload 1 + message 1 + reply 1.
    const send = await graphql(app, SendMessageDocument, { input: { sessionId, content: "Hi" } }, token);
    expect(costOf(send)).toMatchObject({ requestedQueryCost: 13, actualQueryCost: 13 });
  });

  it("prices a plain list by the bound its field declares: a page of history with tool calls stays cheap", async () => {
    const { token } = await signUp(app);
    const sessionId = await createSession(app, token);
    const history = `query($id: ID!) { session(id: $id) { messages(last: 50) { edges { node { content toolCalls { name } } } } } }`;
    // session 1 + messages 1 + 50 × (edge 1 + node 1 + toolCalls at most 10 × 1)
    const result = await graphql(app, history, { id: sessionId }, token);
    expect(result.errors).toBeUndefined();
    expect(costOf(result).requestedQueryCost).toBe(1 + 1 + 50 * (1 + 1 + 10));
  });

  it("charges what the result held: fewer items than `first` cost less, and the rest comes back", async () => {
    const { token } = await signUp(app);
    await createSession(app, token);
    await createSession(app, token);
    const before = await graphql(app, PAGE, { first: 10 }, token);
    expect(before.data.me.sessions.edges).toHaveLength(2);
    // me, sessions, pageInfo, and two edges with their nodes.
    expect(costOf(before)).toMatchObject({ requestedQueryCost: 23, actualQueryCost: 7 });
    expect(costOf(before).throttleStatus.maximumAvailable).toBe(1_000_000);
    expect(costOf(before).throttleStatus.resetInSeconds).toBeGreaterThan(0);

    const after = await graphql(app, PAGE, { first: 10 }, token);
    expect(costOf(after).throttleStatus.currentlyAvailable).toBe(costOf(before).throttleStatus.currentlyAvailable - 7);
  });

  it("refuses an operation over GRAPHQL_MAX_COST before it runs, taking nothing from the budget", async () => {
    const { token } = await signUp(app);
    expect(costOf(await graphql(app, NESTED, { n: 5 }, token)).requestedQueryCost).toBe(nestedCost(5));
    const reading = await graphql(app, `{ me { id } }`, {}, token);

    const refused = await graphql(app, NESTED, { n: 100 }, token);
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors?.[0]?.message).toBe(`Query cost limit of 1000 exceeded, found ${nestedCost(100)}.`);
    expect(refused.errors?.[0]?.extensions).toEqual({
      code: "QUERY_LIMIT_EXCEEDED",
      limit: "cost",
      cost: { requestedQueryCost: nestedCost(100), maximumQueryCost: 1000 },
      requestId: expect.any(String),
    });
    expect(costOf(refused)).toMatchObject({ requestedQueryCost: nestedCost(100), actualQueryCost: 0 });
    expect(costOf(refused).throttleStatus.currentlyAvailable).toBe(costOf(reading).throttleStatus.currentlyAvailable);
  });

  it("stores nothing for a mutation over the limit, over HTTP and graphql-ws", async () => {
    const { token } = await signUp(app);
    const http = await graphql(app, DEAR_CREATE, {}, token);
    expect(http.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "cost" });

    const client = wsClient((await app.listen()).wsUrl, token);
    const ws = await firstSubscriptionResult(client, { query: DEAR_CREATE });
    await client.dispose();
    expect(ws.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "cost" });

    const count = await graphql(app, COUNT, {}, token);
    expect(count.data.me.sessions.totalCount).toBe(0);
  });

  it("reports the cost of queries over graphql-ws, and charges a subscription once, at subscribe", async () => {
    const { token } = await signUp(app);
    const sessionId = await createSession(app, token);
    const sent = await graphql(app, SendMessageDocument, { input: { sessionId, content: "Hello" } }, token);
    const client = wsClient((await app.listen()).wsUrl, token);
    try {
      const query = await firstSubscriptionResult(client, { query: PAGE, variables: { first: 3 } });
      expect(costOf(query)).toMatchObject({ requestedQueryCost: 9, actualQueryCost: 5 });
      const available = costOf(query).throttleStatus.currentlyAvailable;

      // messageStream 1 + the completed event's message 1, whatever number of events follows.
      const variables = { sessionId, after: sent.data!.sendMessage.streamCursor };
      const event = await firstSubscriptionResult(client, { query: MESSAGE_STREAM, variables });
      expect(event.data.messageStream.messageId).toBe(sent.data!.sendMessage.reply.id);
      expect(costOf(event)).toBeUndefined();

      const next = await firstSubscriptionResult(client, { query: `{ me { id } }` });
      expect(costOf(next).throttleStatus.currentlyAvailable).toBe(available - 2 - 1);
    } finally {
      await client.dispose();
    }
  });

  it("reports the cost of a query over SSE", async () => {
    const { token } = await signUp(app);
    const response = await fetch((await app.listen()).graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: PAGE, variables: { first: 3 } }),
    });
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const data = (await response.text()).split("\n").find((line) => line.startsWith("data: {"));
    expect(costOf(JSON.parse(data!.slice("data: ".length)))).toMatchObject({
      requestedQueryCost: 9,
      actualQueryCost: 3,
    });
  });

  it("prices introspection by the schema's size: one full introspection query fits, however much it selects", async () => {
    const prices = introspectionPrices(schema);
    const full = await graphql(app, getIntrospectionQuery());
    expect(full.data.__schema.types.length).toBeGreaterThan(20);
    expect(costOf(full)).toMatchObject({ requestedQueryCost: prices.schema, actualQueryCost: prices.schema });
    expect(prices.schema).toBeLessThan(1000 / 2); // room for the schema to grow before GRAPHQL_MAX_COST bites

    const small = await graphql(app, `{ __schema { queryType { name } } __type(name: "User") { name } __typename }`);
    expect(costOf(small)).toMatchObject({
      requestedQueryCost: prices.schema + prices.type,
      actualQueryCost: prices.schema + prices.type,
    });
  });
});
