// Attacks on the limits themselves: document shapes that counted one way and executed another (root fragments,
// aliases), lists and introspection priced below their size, subscriptions and WebSocket connections nobody
// bounded. Each is refused with its documented code (or close code / HTTP status), stores nothing, and leaves the
// server answering. Two servers: one with small limits, one with short WebSocket timeouts.
import { randomUUID } from "node:crypto";
import { getIntrospectionQuery } from "graphql";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { collectReply, strongPassword, MESSAGE_STREAM, type GraphQLResponse } from "./support/clients.ts";
import { sseSubscribe, type SseSubscription } from "./support/sse.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const AUTH_PER_WINDOW = 5;
const SEND_PER_MINUTE = 5;
const SUBSCRIPTIONS_PER_USER = 4;
const SUBSCRIPTIONS_PER_CONNECTION = 2;
const SSE_STREAMS_PER_USER = 2;
const WS_PER_ADDRESS = 4;
const WS_TOTAL = 8;
const MAX_NODE_IDS = 100; // the schema's constant (nodes(ids:) documents it)

let app: TestApp;
let sockets: TestApp;
beforeAll(async () => {
  [app, sockets] = await Promise.all([
    startTestApp({
      // Every request names its client address through a (trusted) proxy, so each test has addresses of its own.
      TRUSTED_PROXY_HOPS: "1",
      RATE_LIMIT_AUTH_PER_15_MIN: String(AUTH_PER_WINDOW),
      RATE_LIMIT_SEND_PER_MIN: String(SEND_PER_MINUTE),
      MAX_SUBSCRIPTIONS_PER_USER: String(SUBSCRIPTIONS_PER_USER),
      MAX_SUBSCRIPTIONS_PER_CONNECTION: String(SUBSCRIPTIONS_PER_CONNECTION),
      MAX_SSE_STREAMS_PER_USER: String(SSE_STREAMS_PER_USER),
      WS_MAX_CONNECTIONS_PER_ADDRESS: String(WS_PER_ADDRESS),
      WS_MAX_CONNECTIONS: String(WS_TOTAL),
    }),
    startTestApp({
      TRUSTED_PROXY_HOPS: "1",
      MAX_REQUEST_BODY_BYTES: "100000",
      WS_CONNECTION_INIT_TIMEOUT_MS: "400",
      WS_ANONYMOUS_TIMEOUT_MS: "800",
      WS_IDLE_TIMEOUT_MS: "1200",
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([app?.cleanup(), sockets?.cleanup()]);
});

let addresses = 0;
/** A client address no other test uses (documentation range, RFC 5737). */
const newAddress = () => `198.51.100.${++addresses}`;

async function post(
  target: TestApp,
  query: string,
  variables: Record<string, unknown>,
  from: { address: string; token?: string },
) {
  const response = await fetch(target.graphqlUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-forwarded-for": from.address,
      ...(from.token ? { authorization: `Bearer ${from.token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    ...((await response.json()) as GraphQLResponse),
  };
}

/** A graphql-ws client whose connections come from `address`. */
function wsFrom(target: TestApp, address: string, token?: string): Client {
  class FromAddress extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { headers: { "x-forwarded-for": address } });
    }
  }
  return createClient({
    url: target.wsUrl,
    webSocketImpl: FromAddress,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
}

/** The first answer to an operation over graphql-ws, then done with it (an `error` message counts as an answer). */
async function overWs(
  client: Client,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResponse> {
  const iterator = client.iterate({ query, variables });
  try {
    return (await iterator.next()).value as GraphQLResponse;
  } catch (errors) {
    if (Array.isArray(errors)) return { errors };
    throw errors;
  } finally {
    await iterator.return?.();
  }
}

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token } }`;
const CREATE = `mutation { createSession(input: {}) { session { id } } }`;
const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } streamCursor } }`;
const MESSAGES = `query($id: ID!) { session(id: $id) { messages { totalCount } } }`;

interface User {
  token: string;
  address: string;
}

async function signUp(target: TestApp = app): Promise<User> {
  const address = newAddress();
  const input = { email: `limits-${randomUUID()}@example.com`, password: strongPassword() };
  const result = await post(target, REGISTER, { input }, { address });
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return { token: result.data.register.token, address };
}

async function createSession(user: User): Promise<string> {
  const result = await post(app, CREATE, {}, user);
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.createSession.session.id;
}

async function messageCount(user: User, sessionId: string): Promise<number> {
  const result = await post(app, MESSAGES, { id: sessionId }, user);
  return result.data.session.messages.totalCount;
}

/** The server still answers an ordinary query after an attack. */
async function expectServing(target: TestApp) {
  const result = await post(target, `{ __typename }`, {}, { address: newAddress() });
  expect(result.data).toEqual({ __typename: "Query" });
}

const codes = (result: GraphQLResponse) => result.errors?.map((error) => error.extensions?.code);

describe("root fields are counted the way graphql-js executes them", () => {
  const LOGIN_FRAGMENT = `mutation($input: LoginInput!) { ... on Mutation { login(input: $input) { token } } }`;
  const LOGIN_SPREAD = `mutation($input: LoginInput!) { ...Guess } fragment Guess on Mutation { login(input: $input) { token } }`;
  const guess = () => ({ input: { email: `nobody-${randomUUID()}@example.com`, password: strongPassword() } });

  it("login inside an inline fragment or a fragment spread spends the auth limit, on HTTP and graphql-ws", async () => {
    const address = newAddress();
    for (let attempt = 0; attempt < AUTH_PER_WINDOW; attempt++) {
      const result = await post(app, attempt % 2 ? LOGIN_SPREAD : LOGIN_FRAGMENT, guess(), { address });
      expect(codes(result), `attempt ${attempt + 1}`).toEqual(["UNAUTHENTICATED"]);
    }
    const http = await post(app, LOGIN_FRAGMENT, guess(), { address });
    expect(http.status).toBe(429);
    expect(Number(http.retryAfter)).toBeGreaterThan(0);
    expect(http.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "auth" });

    const client = wsFrom(app, address);
    const ws = await overWs(client, LOGIN_SPREAD, guess());
    await client.dispose();
    expect(ws.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "auth" });
    await expectServing(app);
  });

  it("aliased logins cost one point each, and an operation that does not fit is refused whole, taking nothing", async () => {
    const address = newAddress();
    const aliased = (count: number) =>
      `mutation($input: LoginInput!) { ${Array.from({ length: count }, (_, i) => `a${i}: login(input: $input) { token }`).join(" ")} }`;
    const over = await post(app, aliased(AUTH_PER_WINDOW + 1), guess(), { address });
    expect(over.data ?? null).toBeNull();
    expect(codes(over)).toEqual(["RATE_LIMITED"]);
    // The refusal took nothing: exactly the whole allowance still fits, one point per field, and then nothing does.
    // (Execution stops at the first failed login, a non-null field; the points were taken for all five.)
    const all = await post(app, aliased(AUTH_PER_WINDOW), guess(), { address });
    expect(codes(all)).toEqual(["UNAUTHENTICATED"]);
    expect(codes(await post(app, LOGIN_FRAGMENT, guess(), { address }))).toEqual(["RATE_LIMITED"]);
  });

  it("15 aliased sendMessage cost 15 send points: refused whole on HTTP and graphql-ws, nothing stored", async () => {
    const user = await signUp();
    const sessions = await Promise.all(Array.from({ length: SEND_PER_MINUTE }, () => createSession(user)));
    const bomb = `mutation { ${Array.from(
      { length: 15 },
      (_, i) =>
        `m${i}: sendMessage(input: { sessionId: "${sessions[i % sessions.length]}", content: "flood ${i}" }) { reply { id } }`,
    ).join(" ")} }`;
    const http = await post(app, bomb, {}, user);
    expect(http.status).toBe(429);
    expect(http.data ?? null).toBeNull();
    expect(http.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "send" });
    const client = wsFrom(app, user.address, user.token);
    const ws = await overWs(client, bomb);
    await client.dispose();
    expect(ws.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "send" });
    for (const sessionId of sessions) expect(await messageCount(user, sessionId)).toBe(0);

    // The refusals took nothing: five aliased sends (one per session) fit exactly, and then nothing more does.
    const five = `mutation { ...Five } fragment Five on Mutation { ${sessions
      .map(
        (sessionId, i) =>
          `m${i}: sendMessage(input: { sessionId: "${sessionId}", content: "hello ${i}" }) { reply { id } }`,
      )
      .join(" ")} }`;
    const sent = await post(app, five, {}, user);
    expect(sent.errors).toBeUndefined();
    const one = await post(app, SEND, { input: { sessionId: sessions[0], content: "one more" } }, user);
    expect(one.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "send" });
    await expectServing(app);
  });
});

describe("nodes(ids:) is priced by its length and capped", () => {
  const NODES = `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`;
  const ids = (count: number) =>
    Array.from({ length: count }, () => Buffer.from(`Session:${randomUUID()}`).toString("base64"));

  it(`5,000 ids are refused before anything runs, on HTTP, SSE and graphql-ws; ${MAX_NODE_IDS} fit, priced per id`, async () => {
    const user = await signUp();
    const many = ids(5000);
    const expected = {
      code: "QUERY_LIMIT_EXCEEDED",
      limit: "ids",
      field: "Query.nodes",
      maximum: MAX_NODE_IDS,
      found: 5000,
    };

    const http = await post(app, NODES, { ids: many }, user);
    expect(http.data ?? null).toBeNull();
    expect(http.errors?.[0]?.extensions).toMatchObject(expected);
    // Refused before execution: nothing was charged for objects.
    expect((http as { extensions?: any }).extensions?.cost).toMatchObject({ actualQueryCost: 0 });

    const sse = await fetch(app.graphqlUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        authorization: `Bearer ${user.token}`,
      },
      body: JSON.stringify({ query: NODES, variables: { ids: many } }),
    });
    const frame = (await sse.text()).split("\n").find((line) => line.startsWith("data: {"));
    expect(JSON.parse(frame!.slice("data: ".length)).errors[0].extensions).toMatchObject(expected);

    const client = wsFrom(app, user.address, user.token);
    const ws = await overWs(client, NODES, { ids: many });
    await client.dispose();
    expect(ws.errors?.[0]?.extensions).toMatchObject(expected);

    expect(codes(await post(app, NODES, { ids: ids(MAX_NODE_IDS + 1) }, user))).toEqual(["QUERY_LIMIT_EXCEEDED"]);
    const fits = await post(app, NODES, { ids: ids(MAX_NODE_IDS) }, user);
    expect(fits.errors).toBeUndefined();
    expect(fits.data.nodes).toEqual(Array(MAX_NODE_IDS).fill(null));
    expect((fits as { extensions?: any }).extensions.cost.requestedQueryCost).toBe(MAX_NODE_IDS);
    await expectServing(app);
  });
});

describe("introspection is priced by the schema's size", () => {
  const aliasedSchema = `{ ${Array.from({ length: 15 }, (_, i) => `s${i}: __schema { queryType { name } }`).join(" ")} }`;

  it("15 aliased __schema in one anonymous request are refused on HTTP and graphql-ws; one full introspection fits", async () => {
    const address = newAddress();
    const http = await post(app, aliasedSchema, {}, { address });
    expect(http.data ?? null).toBeNull();
    expect(http.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "cost" });
    const client = wsFrom(app, address);
    const ws = await overWs(client, aliasedSchema);
    expect(ws.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "cost" });

    // What GraphiQL and codegen send still works, on both.
    const full = await post(app, getIntrospectionQuery(), {}, { address });
    expect(full.errors).toBeUndefined();
    expect(full.data.__schema.queryType).toMatchObject({ name: "Query" });
    expect((await overWs(client, getIntrospectionQuery())).errors).toBeUndefined();
    await client.dispose();
  });
});

describe("subscriptions are capped per connection, per user and per SSE user", () => {
  /** A user with one finished reply: subscribing from `after` replays it, so an accepted stream answers at once. */
  async function streamer() {
    const user = await signUp();
    const sessionId = await createSession(user);
    const sent = await post(app, SEND, { input: { sessionId, content: "hello" } }, user);
    const { reply, streamCursor } = sent.data.sendMessage;
    const client = wsFrom(app, user.address, user.token);
    await collectReply(client, { sessionId, after: streamCursor }, reply.id);
    await client.dispose();
    return { ...user, variables: { sessionId, after: streamCursor as string } };
  }
  type Streamer = Awaited<ReturnType<typeof streamer>>;

  /** Subscribes over graphql-ws: the first answer, and the subscription (left open when accepted). */
  async function subscribeWs(client: Client, who: Streamer) {
    const iterator = client.iterate({ query: MESSAGE_STREAM, variables: who.variables });
    try {
      const first = (await iterator.next()).value as GraphQLResponse;
      if (first.errors) await iterator.return?.();
      return { first, end: async () => void (await iterator.return?.()) };
    } catch (errors) {
      if (Array.isArray(errors)) return { first: { errors } as GraphQLResponse, end: async () => {} };
      throw errors;
    }
  }

  async function subscribeSse(who: Streamer): Promise<{ first: GraphQLResponse; stream: SseSubscription }> {
    const stream = await sseSubscribe(app.graphqlUrl, MESSAGE_STREAM, who.variables, who.token);
    const first = (await stream.next())!;
    if (first.errors) await stream.close();
    return { first, stream };
  }

  const accepted = (first: GraphQLResponse) => {
    expect(first.errors).toBeUndefined();
    expect(first.data.messageStream.__typename).toBeTruthy();
  };
  const refusedBy = (first: GraphQLResponse, limit: string, maximum: number) => {
    expect(first.data ?? null).toBeNull();
    expect(first.errors?.[0]?.extensions).toMatchObject({ code: "SUBSCRIPTION_LIMIT_EXCEEDED", limit, maximum });
  };

  /** Subscribing again until accepted: a slot comes back when the server sees the end, which may take a moment. */
  async function eventuallyAccepted<T extends { first: GraphQLResponse }>(subscribe: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const attempt = await subscribe();
      if (!attempt.first.errors || Date.now() > deadline) return attempt;
      expect(attempt.first.errors[0]?.extensions?.code).toBe("SUBSCRIPTION_LIMIT_EXCEEDED");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it("per graphql-ws connection; a completed subscription frees its slot", async () => {
    const who = await streamer();
    const client = wsFrom(app, who.address, who.token);
    try {
      const held = [];
      for (let i = 0; i < SUBSCRIPTIONS_PER_CONNECTION; i++) held.push(await subscribeWs(client, who));
      for (const { first } of held) accepted(first);
      refusedBy((await subscribeWs(client, who)).first, "perConnection", SUBSCRIPTIONS_PER_CONNECTION);

      await held[0]!.end(); // the client's `complete`
      const again = await eventuallyAccepted(() => subscribeWs(client, who));
      accepted(again.first);
      // A second connection of the same user is not this connection's business.
      const other = wsFrom(app, who.address, who.token);
      accepted((await subscribeWs(other, who)).first);
      await other.dispose();
    } finally {
      await client.dispose();
    }
    await expectServing(app);
  });

  it("per user across graphql-ws connections and SSE streams; closing a socket frees its slots", async () => {
    const who = await streamer();
    const first = wsFrom(app, who.address, who.token);
    const second = wsFrom(app, who.address, who.token);
    const streams: SseSubscription[] = [];
    try {
      for (let i = 0; i < SUBSCRIPTIONS_PER_CONNECTION; i++) accepted((await subscribeWs(first, who)).first);
      accepted((await subscribeWs(second, who)).first);
      const sse = await subscribeSse(who);
      accepted(sse.first);
      streams.push(sse.stream);
      // Four held: the next is refused on either transport, whatever its connection holds.
      refusedBy((await subscribeWs(second, who)).first, "perUser", SUBSCRIPTIONS_PER_USER);
      refusedBy((await subscribeSse(who)).first, "perUser", SUBSCRIPTIONS_PER_USER);

      await first.dispose(); // socket closed: both of its subscriptions end
      accepted((await eventuallyAccepted(() => subscribeWs(second, who))).first);
      const after = await subscribeSse(who);
      accepted(after.first);
      streams.push(after.stream);
    } finally {
      await Promise.all([first.dispose(), second.dispose(), ...streams.map((stream) => stream.close())]);
    }
    await expectServing(app);
  });

  it("SSE streams per user; a disconnected stream frees its slot", async () => {
    const who = await streamer();
    const streams: SseSubscription[] = [];
    const client = wsFrom(app, who.address, who.token);
    try {
      for (let i = 0; i < SSE_STREAMS_PER_USER; i++) {
        const sse = await subscribeSse(who);
        accepted(sse.first);
        streams.push(sse.stream);
      }
      refusedBy((await subscribeSse(who)).first, "sseStreamsPerUser", SSE_STREAMS_PER_USER);
      // graphql-ws is not an SSE stream: the user's other slots are still there.
      accepted((await subscribeWs(client, who)).first);

      await streams.shift()!.close(); // the client goes away
      const again = await eventuallyAccepted(() => subscribeSse(who));
      accepted(again.first);
      streams.push(again.stream);
    } finally {
      await Promise.all([client.dispose(), ...streams.map((stream) => stream.close())]);
    }
    await expectServing(app);
  });
});

/** A bare WebSocket from `address`, to see what the server does with it frame by frame. */
function rawSocket(target: TestApp, address: string) {
  const socket = new WebSocket(target.wsUrl, "graphql-transport-ws", { headers: { "x-forwarded-for": address } });
  socket.on("error", () => undefined); // a refused upgrade also errors; its outcome is read from `opened`
  const opened = new Promise<{ status: number; retryAfter?: string }>((resolve) => {
    socket.once("open", () => resolve({ status: 101 }));
    socket.once("unexpected-response", (_request, response) => {
      resolve({ status: response.statusCode ?? 0, retryAfter: response.headers["retry-after"] });
      response.resume();
      socket.terminate();
    });
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const messages: Array<{ type: string }> = [];
  const arrived: Array<() => void> = [];
  socket.on("message", (data) => {
    messages.push(JSON.parse(String(data)));
    for (const wake of arrived.splice(0)) wake();
  });
  return {
    socket,
    opened,
    closed,
    messages,
    send: (message: object) => socket.send(JSON.stringify(message)),
    /** The first message of this type, or undefined if the socket closed first. */
    async received(type: string) {
      for (;;) {
        const found = messages.find((message) => message.type === type);
        if (found || socket.readyState >= WebSocket.CLOSING) return found;
        await Promise.race([new Promise<void>((resolve) => arrived.push(resolve)), closed]);
      }
    },
    close: () => socket.close(),
  };
}

/** Settles with the close event, or with "still open" after `ms` (only ever used where a close is expected). */
const closedWithin = (closed: Promise<{ code: number; reason: string }>, ms: number) =>
  Promise.race([closed, new Promise<"still open">((resolve) => setTimeout(() => resolve("still open"), ms))]);

describe("graphql-ws connections are bounded", () => {
  it("a 5 MB connection_init is refused: the socket closes with 1009 (MAX_REQUEST_BODY_BYTES applies to frames)", async () => {
    const user = await signUp(sockets);
    const huge = rawSocket(sockets, newAddress());
    expect((await huge.opened).status).toBe(101);
    huge.send({
      type: "connection_init",
      payload: { authorization: `Bearer ${user.token}`, padding: "x".repeat(5_000_000) },
    });
    expect(await closedWithin(huge.closed, 10_000)).toMatchObject({ code: 1009 });
    expect(huge.messages).toEqual([]);

    // Under the limit is fine.
    const fits = rawSocket(sockets, newAddress());
    await fits.opened;
    fits.send({
      type: "connection_init",
      payload: { authorization: `Bearer ${user.token}`, padding: "x".repeat(90_000) },
    });
    expect(await fits.received("connection_ack")).toBeDefined();
    fits.close();
    await expectServing(sockets);
  });

  it("a socket that sends no connection_init is closed with 4408 at WS_CONNECTION_INIT_TIMEOUT_MS", async () => {
    const silent = rawSocket(sockets, newAddress());
    const openedAt = Date.now();
    await silent.opened;
    expect(await closedWithin(silent.closed, 10_000)).toEqual({
      code: 4408,
      reason: "Connection initialisation timeout",
    });
    // graphql-ws's own default is 3 s; the configured 400 ms applies (a loose bound, not a timing measurement).
    expect(Date.now() - openedAt).toBeLessThan(2_500);
  });

  it("a socket that never authenticates is closed with 4401 Authentication required, a bad token likewise", async () => {
    for (const connectionParams of [{}, { authorization: "Bearer not-a-token" }]) {
      const anonymous = rawSocket(sockets, newAddress());
      await anonymous.opened;
      anonymous.send({ type: "connection_init", payload: connectionParams });
      expect(await anonymous.received("connection_ack")).toBeDefined(); // anonymous sockets may still log in
      expect(await closedWithin(anonymous.closed, 10_000)).toEqual({ code: 4401, reason: "Authentication required" });
    }
  });

  it("an authenticated socket with nothing running is closed as idle (1000), never while a subscription runs", async () => {
    const user = await signUp(sockets);
    const idle = rawSocket(sockets, user.address);
    const busy = rawSocket(sockets, user.address);
    await Promise.all([idle.opened, busy.opened]);
    for (const socket of [idle, busy])
      socket.send({ type: "connection_init", payload: { authorization: `Bearer ${user.token}` } });
    await Promise.all([idle.received("connection_ack"), busy.received("connection_ack")]);
    const sessionId = (await post(sockets, CREATE, {}, user)).data.createSession.session.id;
    busy.send({ id: "s1", type: "subscribe", payload: { query: MESSAGE_STREAM, variables: { sessionId } } });

    expect(await closedWithin(idle.closed, 10_000)).toEqual({ code: 1000, reason: "Idle timeout" });
    // Two more idle periods: the socket with a running subscription stays.
    expect(await closedWithin(busy.closed, 2 * 1200 + 500)).toBe("still open");
    busy.send({ id: "s1", type: "complete" });
    expect(await closedWithin(busy.closed, 10_000)).toEqual({ code: 1000, reason: "Idle timeout" });
  });

  it(`connections per address: beyond ${WS_PER_ADDRESS}, the upgrade is refused with 429 and Retry-After; a closed one frees its place`, async () => {
    const address = newAddress();
    const held = Array.from({ length: WS_PER_ADDRESS }, () => rawSocket(app, address));
    try {
      for (const socket of held) expect((await socket.opened).status).toBe(101);
      const refused = await rawSocket(app, address).opened;
      expect(refused.status).toBe(429);
      expect(Number(refused.retryAfter)).toBeGreaterThan(0);
      const elsewhere = rawSocket(app, newAddress());
      held.push(elsewhere);
      expect((await elsewhere.opened).status).toBe(101); // another address is not affected

      held.shift()!.close(); // one of the address's own
      const deadline = Date.now() + 10_000;
      let again = rawSocket(app, address);
      while ((await again.opened).status !== 101 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        again = rawSocket(app, address);
      }
      expect((await again.opened).status).toBe(101);
      held.push(again);
    } finally {
      for (const socket of held) socket.close();
    }
  });

  it(`connections in all: beyond WS_MAX_CONNECTIONS (${WS_TOTAL}), 503 and Retry-After; every place comes back`, async () => {
    const openUntilRefused = async () => {
      const held: Array<ReturnType<typeof rawSocket>> = [];
      for (let i = 0; i < WS_TOTAL * 3; i++) {
        const socket = rawSocket(app, newAddress());
        const { status, retryAfter } = await socket.opened;
        if (status !== 101) return { held, status, retryAfter };
        held.push(socket);
      }
      return { held, status: 101, retryAfter: undefined };
    };
    const first = await openUntilRefused();
    expect(first.status).toBe(503);
    expect(Number(first.retryAfter)).toBeGreaterThan(0);
    expect(first.held.length).toBeLessThanOrEqual(WS_TOTAL);
    for (const socket of first.held) socket.close();
    await Promise.all(first.held.map((socket) => socket.closed));

    // Nothing leaked: once every socket has closed, all WS_TOTAL places are free again.
    const deadline = Date.now() + 10_000;
    let second = await openUntilRefused();
    while (second.held.length < WS_TOTAL && Date.now() < deadline) {
      for (const socket of second.held) socket.close();
      await Promise.all(second.held.map((socket) => socket.closed));
      await new Promise((resolve) => setTimeout(resolve, 50));
      second = await openUntilRefused();
    }
    expect(second.held.length).toBe(WS_TOTAL);
    expect(second.status).toBe(503);
    for (const socket of second.held) socket.close();
    await Promise.all(second.held.map((socket) => socket.closed));
    await expectServing(app);
  });
});
