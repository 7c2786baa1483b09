// Attacks on the running API, each through a real transport: refused with its documented code, storing nothing
// (the victim's sessions and messages, read back through the API, are exactly as before) and leaving the server
// answering. Forged, expired and revoked tokens are covered by the auth suites.
import { randomUUID } from "node:crypto";
import { test as base, afterAll, beforeAll, describe, expect } from "vitest";
import {
  createSession,
  firstSubscriptionResult,
  graphql,
  sendAndCollectReply,
  signUp,
  strongPassword,
  wsClient,
  MESSAGE_STREAM,
  type GraphQLResponse,
  type SignedUpUser,
} from "./support/clients.ts";
import { sseSubscribe } from "./support/sse.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const LOGIN_ATTEMPTS = 3;
const MAX_BODY_BYTES = 200_000;
const MAX_MESSAGE_CHARS = 10_000;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({
    RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN: String(LOGIN_ATTEMPTS),
    MAX_REQUEST_BODY_BYTES: String(MAX_BODY_BYTES),
    MAX_MESSAGE_CHARS: String(MAX_MESSAGE_CHARS),
  });
});
afterAll(async () => {
  await app?.cleanup();
});

const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } reply { id } streamCursor } }`;
const CREATE = `mutation($input: CreateSessionInput!) { createSession(input: $input) { session { id } } }`;
const RENAME = `mutation($input: RenameSessionInput!) { renameSession(input: $input) { session { id name } } }`;
const DELETE = `mutation($input: DeleteSessionInput!) { deleteSession(input: $input) { deletedSessionId } }`;
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { __typename } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { __typename } }`;
const HOLDINGS = `{ me { id email sessions(first: 10) { totalCount edges { node { id name
  messages(first: 10) { totalCount edges { node { id role content status } } } } } } } }`;

interface Victim extends SignedUpUser {
  sessionId: string;
  messageId: string;
  replyId: string;
  /** Fails unless the victim's sessions and messages are exactly as before, read through a normal query. */
  expectUnharmed(): Promise<void>;
}

const it = base.extend<{ victim: Victim; attacker: SignedUpUser }>({
  victim: async ({}, use) => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token, "Private plans");
    // The reply finishes first, so the victim's data stands still while it is attacked.
    const { message, reply } = await sendAndCollectReply(app, user, { sessionId, content: "my secret" });
    const before = await holdings(user.token);
    expect(before.sessions.edges[0].node.messages.totalCount).toBe(2);
    const expectUnharmed = async () => expect(await holdings(user.token)).toEqual(before);
    await use({ ...user, sessionId, messageId: message.id, replyId: reply.id, expectUnharmed });
  },
  attacker: async ({}, use) => use(await signUp(app.graphqlUrl)),
});

async function holdings(token: string) {
  const result = await graphql(app.graphqlUrl, HOLDINGS, {}, token);
  expect(result.errors).toBeUndefined();
  return result.data.me;
}

async function post(body: string | Buffer, token?: string) {
  const response = await fetch(app.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === "string" ? body : new Uint8Array(body),
  });
  return { status: response.status, headers: response.headers, ...((await response.json()) as GraphQLResponse) };
}

const codes = (result: GraphQLResponse) => result.errors?.map((error) => error.extensions?.code);

/** The answer without its request id (the one part that differs between any two requests). */
function comparable({ data, errors, status }: GraphQLResponse & { status?: number }) {
  return {
    status,
    data,
    errors: errors?.map(({ extensions: { requestId: _, ...extensions } = {}, ...rest }) => ({ ...rest, extensions })),
  };
}

const globalId = (type: "Session" | "Message" | "User", id: string = randomUUID()) =>
  Buffer.from(`${type}:${id}`).toString("base64");

describe("query-shape attacks are refused before anything runs", () => {
  it("alias bomb: 30 aliased createSession mutations, over HTTP and graphql-ws", async ({ victim }) => {
    const bomb = `mutation { ${Array.from({ length: 30 }, (_, i) => `a${i}: createSession(input: {}) { session { id } }`).join(" ")} }`;
    const http = await graphql(app.graphqlUrl, bomb, {}, victim.token);
    expect(http.data ?? null).toBeNull();
    expect(http.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "aliases" });
    const client = wsClient(app.wsUrl, victim.token);
    const ws = await firstSubscriptionResult(client, { query: bomb });
    await client.dispose();
    expect(ws.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "aliases" });
    await victim.expectUnharmed();
  });

  it("depth bomb: sessions → messages → session → messages …", async ({ victim }) => {
    let selection = "id";
    for (let i = 0; i < 2; i++) selection = `session { messages { edges { node { ${selection} } } } }`;
    const query = `{ me { sessions { edges { node { messages { edges { node { ${selection} } } } } } } } }`;
    const result = await graphql(app.graphqlUrl, query, {}, victim.token);
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "depth" });
    await victim.expectUnharmed();
  });

  it("directive bomb: 50 directives on a mutation's selection", async ({ victim }) => {
    const fields = Array.from({ length: 50 }, () => "id @skip(if: false)").join(" ");
    const result = await graphql(
      app.graphqlUrl,
      `mutation { createSession(input: {}) { session { ${fields} } } }`,
      {},
      victim.token,
    );
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "directives" });
    await victim.expectUnharmed();
  });

  it("huge document: 2,500 tokens in a mutation", async ({ victim }) => {
    const padding = Array.from({ length: 2500 }, () => "__typename").join(" ");
    const result = await graphql(
      app.graphqlUrl,
      `mutation { createSession(input: {}) { session { id ${padding} } } }`,
      {},
      victim.token,
    );
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "tokens" });
    await victim.expectUnharmed();
  });

  it("fragment cycle, and fragments that multiply (10^3 mutations)", async ({ victim }) => {
    const cycle = `mutation { ...A } fragment A on Mutation { createSession(input: {}) { session { id } } ...B } fragment B on Mutation { ...A }`;
    const cyclic = await graphql(app.graphqlUrl, cycle, {}, victim.token);
    expect(cyclic.data ?? null).toBeNull();
    expect(codes(cyclic)).toContain("GRAPHQL_VALIDATION_FAILED");

    // Shallow and short, so that depth and token limits pass: only its cost gives it away.
    let fragments = "fragment F0 on Mutation { createSession(input: {}) { session { id } } }";
    for (let i = 1; i <= 3; i++) fragments += ` fragment F${i} on Mutation { ${`...F${i - 1} `.repeat(10)}}`;
    const exploding = await graphql(app.graphqlUrl, `mutation { ...F3 } ${fragments}`, {}, victim.token);
    expect(exploding.data ?? null).toBeNull();
    expect(exploding.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "cost" });
    await victim.expectUnharmed();
  });
});

describe("malformed requests are refused with BAD_REQUEST", () => {
  it("a batched array of mutations (batching is off)", async ({ victim }) => {
    const batch = JSON.stringify([
      { query: CREATE, variables: { input: {} } },
      { query: CREATE, variables: { input: {} } },
    ]);
    const result = await post(batch, victim.token);
    expect(result.status).toBe(400);
    expect(codes(result)).toEqual(["BAD_REQUEST"]);
    await victim.expectUnharmed();
  });

  it("malformed JSON: truncated, not an object, and in GET variables", async ({ victim }) => {
    const body = JSON.stringify({
      query: SEND,
      variables: { input: { sessionId: victim.sessionId, content: "half" } },
    });
    for (const malformed of [body.slice(0, -2), "null", '"sendMessage"', "{oops"]) {
      const result = await post(malformed, victim.token);
      expect(result.status, malformed).toBe(400);
      expect(codes(result), malformed).toEqual(["BAD_REQUEST"]);
    }
    const url = new URL(app.graphqlUrl);
    url.searchParams.set("query", "query($id: ID!) { session(id: $id) { id } }");
    url.searchParams.set("variables", '{"id": ');
    const get = await fetch(url, { headers: { "x-graphql-yoga-csrf": "1", authorization: `Bearer ${victim.token}` } });
    expect(get.status).toBe(400);
    expect(codes((await get.json()) as GraphQLResponse)).toEqual(["BAD_REQUEST"]);
    await victim.expectUnharmed();
  });

  it("invalid UTF-8 in sendMessage and createSession bodies (never stored as U+FFFD)", async ({ victim }) => {
    const invalid = [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]]; // stray, overlong, surrogate, truncated
    for (const bytes of invalid) {
      for (const [query, input] of [
        [SEND, { sessionId: victim.sessionId, content: "<<>>" }],
        [CREATE, { name: "<<>>" }],
      ] as const) {
        const [before, after] = JSON.stringify({ query, variables: { input } }).split("<<>>");
        const body = Buffer.concat([Buffer.from(`${before}ok `), Buffer.from(bytes), Buffer.from(` ok${after}`)]);
        const result = await post(body, victim.token);
        expect(result.status, `${bytes}`).toBe(400);
        expect(codes(result)).toEqual(["BAD_REQUEST"]);
        expect(result.errors?.[0]?.message).toMatch(/not valid UTF-8/);
      }
    }
    await victim.expectUnharmed();
  });

  it("arguments of the wrong type", async ({ victim }) => {
    for (const input of [
      { sessionId: victim.sessionId, content: 123 },
      { sessionId: { id: victim.sessionId }, content: "x" },
      { sessionId: victim.sessionId, content: ["x"] },
      { sessionId: victim.sessionId, content: "x", userId: victim.userId },
      "sendMessage",
    ]) {
      const result = await graphql(app.graphqlUrl, SEND, { input }, victim.token);
      expect(result.status).toBe(400);
      expect(result.data ?? null).toBeNull();
      expect(result.errors?.[0]?.message).toMatch(/^Variable "\$input" got invalid value/);
      expect(codes(result)).not.toContain("INTERNAL_SERVER_ERROR"); // The code itself: see "known bugs" below.
    }
    await victim.expectUnharmed();
  });
});

describe("poisoned input is BAD_USER_INPUT naming the field, never a database error", () => {
  it("NUL and unpaired surrogates in message content, session names (create and rename)", async ({ victim }) => {
    for (const poison of ["hello\u0000world", "\u0000", "half a pair: \ud83d", "\udc00 backwards"]) {
      const cases = [
        [SEND, { sessionId: victim.sessionId, content: poison }, "input.content"],
        [CREATE, { name: poison }, "input.name"],
        [RENAME, { sessionId: victim.sessionId, name: poison }, "input.name"],
      ] as const;
      for (const [mutation, input, field] of cases) {
        const result = await graphql(app.graphqlUrl, mutation, { input }, victim.token);
        expect(result.data ?? null).toBeNull();
        expect(result.errors?.[0]?.extensions, `${field} ${JSON.stringify(poison)}`).toMatchObject({
          code: "BAD_USER_INPUT",
          field,
        });
      }
    }
    await victim.expectUnharmed();
  });

  it("NUL in a registering email or password", async ({ victim }) => {
    const email = `nul-${randomUUID()}@example.com`;
    const cases = [
      [{ email: email.replace("@", "\u0000@"), password: strongPassword() }, "input.email"],
      [{ email, password: `${strongPassword()}\u0000` }, "input.password"],
    ] as const;
    for (const [input, field] of cases) {
      const result = await graphql(app.graphqlUrl, REGISTER, { input });
      expect(result.data ?? null).toBeNull();
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    }
    // Nothing was stored: the clean email is still free.
    const clean = await graphql(app.graphqlUrl, REGISTER, { input: { email, password: strongPassword() } });
    expect(clean.errors).toBeUndefined();
    await victim.expectUnharmed();
  });

  it("a message one character over MAX_MESSAGE_CHARS, and a body over MAX_REQUEST_BODY_BYTES", async ({ victim }) => {
    const over = await graphql(
      app.graphqlUrl,
      SEND,
      { input: { sessionId: victim.sessionId, content: "x".repeat(MAX_MESSAGE_CHARS + 1) } },
      victim.token,
    );
    expect(over.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.content" });
    const huge = JSON.stringify({
      query: SEND,
      variables: { input: { sessionId: victim.sessionId, content: "x".repeat(MAX_BODY_BYTES) } },
    });
    const tooLarge = await post(huge, victim.token);
    expect(tooLarge.status).toBe(413);
    expect(codes(tooLarge)).toEqual(["REQUEST_ENTITY_TOO_LARGE"]);
    await victim.expectUnharmed();
  });
});

describe("IDOR: another user's ids answer exactly as unknown ids do", () => {
  it("session(id:), and a Message id passed as a Session id", async ({ victim, attacker }) => {
    const query = `query($id: ID!) { session(id: $id) { id name messages(first: 5) { edges { node { content } } } } }`;
    const foreign = await graphql(app.graphqlUrl, query, { id: victim.sessionId }, attacker.token);
    expect(foreign.data).toEqual({ session: null });
    expect(codes(foreign)).toEqual(["NOT_FOUND"]);
    const unknown = await graphql(app.graphqlUrl, query, { id: globalId("Session") }, attacker.token);
    expect(comparable(foreign)).toEqual(comparable(unknown));

    // A Message id where a Session id belongs is refused before any lookup; the message repeats the id sent.
    const unknownMessageId = globalId("Message");
    const wrongType = await graphql(app.graphqlUrl, query, { id: victim.messageId }, attacker.token);
    expect(codes(wrongType)).toEqual(["BAD_USER_INPUT"]);
    const unknownWrongType = await graphql(app.graphqlUrl, query, { id: unknownMessageId }, attacker.token);
    expect(JSON.stringify(comparable(wrongType)).replace(victim.messageId, "<id>")).toBe(
      JSON.stringify(comparable(unknownWrongType)).replace(unknownMessageId, "<id>"),
    );
    await victim.expectUnharmed();
  });

  it("node(id:) and nodes(ids:) for the victim's Session, Message, reply and User", async ({ victim, attacker }) => {
    const NODE = `query($id: ID!) { node(id: $id) { id __typename ... on Session { name } ... on Message { content } ... on User { email } } }`;
    const NODES = `query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Session { name } ... on Message { content } ... on User { email } } }`;
    const foreignIds = [victim.sessionId, victim.messageId, victim.replyId, victim.userId];
    const unknownIds = [globalId("Session"), globalId("Message"), globalId("Message"), globalId("User")];
    for (const [foreignId, unknownId] of foreignIds.map((id, i) => [id, unknownIds[i]!])) {
      const foreign = await graphql(app.graphqlUrl, NODE, { id: foreignId }, attacker.token);
      expect(foreign).toMatchObject({ data: { node: null } });
      expect(foreign.errors).toBeUndefined();
      expect(comparable(foreign)).toEqual(
        comparable(await graphql(app.graphqlUrl, NODE, { id: unknownId }, attacker.token)),
      );
    }
    const foreign = await graphql(app.graphqlUrl, NODES, { ids: foreignIds }, attacker.token);
    expect(foreign.data).toEqual({ nodes: [null, null, null, null] });
    expect(comparable(foreign)).toEqual(
      comparable(await graphql(app.graphqlUrl, NODES, { ids: unknownIds }, attacker.token)),
    );
    await victim.expectUnharmed();
  });

  it("renameSession, deleteSession and sendMessage", async ({ victim, attacker }) => {
    const attempts = [
      [RENAME, (sessionId: string) => ({ sessionId, name: "pwned" })],
      [DELETE, (sessionId: string) => ({ sessionId })],
      [SEND, (sessionId: string) => ({ sessionId, content: "injected" })],
    ] as const;
    for (const [mutation, input] of attempts) {
      const foreign = await graphql(app.graphqlUrl, mutation, { input: input(victim.sessionId) }, attacker.token);
      expect(codes(foreign)).toEqual(["NOT_FOUND"]);
      const unknown = await graphql(app.graphqlUrl, mutation, { input: input(globalId("Session")) }, attacker.token);
      expect(comparable(foreign)).toEqual(comparable(unknown));
    }
    await victim.expectUnharmed();
  });

  it("messageStream over graphql-ws, with and without a cursor", async ({ victim, attacker }) => {
    const client = wsClient(app.wsUrl, attacker.token);
    try {
      for (const after of [undefined, "0"]) {
        const foreign = await firstSubscriptionResult(client, {
          query: MESSAGE_STREAM,
          variables: { sessionId: victim.sessionId, after },
        });
        expect(foreign.data ?? null).toBeNull();
        expect(codes(foreign)).toEqual(["NOT_FOUND"]);
        const unknown = await firstSubscriptionResult(client, {
          query: MESSAGE_STREAM,
          variables: { sessionId: globalId("Session"), after },
        });
        expect(comparable(foreign)).toEqual(comparable(unknown));
      }
    } finally {
      await client.dispose();
    }
    await victim.expectUnharmed();
  });

  it("messageStream over SSE", async ({ victim, attacker }) => {
    const sse = async (sessionId: string) => {
      // after: "0" would replay the victim's whole reply, were the subscription accepted.
      const subscription = await sseSubscribe(
        app.graphqlUrl,
        MESSAGE_STREAM,
        { sessionId, after: "0" },
        attacker.token,
      );
      try {
        return (await subscription.next())!;
      } finally {
        await subscription.close();
      }
    };
    const foreign = await sse(victim.sessionId);
    expect(foreign.data ?? null).toBeNull();
    expect(codes(foreign)).toEqual(["NOT_FOUND"]);
    expect(comparable(foreign)).toEqual(comparable(await sse(globalId("Session"))));
    await victim.expectUnharmed();
  });

  it("nested access: from the victim's message, and from the attacker's own message", async ({ victim, attacker }) => {
    const NESTED = `query($id: ID!) { node(id: $id) { ... on Message { content session { id name messages(first: 10) { edges { node { content } } } } } } }`;
    const foreign = await graphql(app.graphqlUrl, NESTED, { id: victim.messageId }, attacker.token);
    expect(foreign.data).toEqual({ node: null });
    expect(foreign.errors).toBeUndefined();

    const ownSession = await createSession(app.graphqlUrl, attacker.token);
    const sent = await graphql(
      app.graphqlUrl,
      SEND,
      { input: { sessionId: ownSession, content: "mine" } },
      attacker.token,
    );
    const own = await graphql(app.graphqlUrl, NESTED, { id: sent.data.sendMessage.message.id }, attacker.token);
    expect(own.data.node.session.id).toBe(ownSession);
    const reachable = JSON.stringify(own.data) + JSON.stringify(await holdings(attacker.token));
    expect(reachable).not.toContain("my secret");
    expect(reachable).not.toContain(victim.sessionId);
    await victim.expectUnharmed();
  });
});

describe("brute-force login", () => {
  it(`is RATE_LIMITED after ${LOGIN_ATTEMPTS} attempts on one account, however the email is spelled`, async ({
    victim,
  }) => {
    for (let i = 0; i < LOGIN_ATTEMPTS; i++) {
      const guess = await graphql(app.graphqlUrl, LOGIN, {
        input: { email: victim.email, password: `Guess-${i}-Aa1!` },
      });
      expect(codes(guess)).toEqual(["UNAUTHENTICATED"]);
    }
    const spellings = [victim.email, `  ${victim.email.toUpperCase()} `];
    for (const email of spellings) {
      // The right password too: a locked-out guesser must not learn that it was right.
      for (const password of ["Guess-next-Aa1!", victim.password]) {
        const response = await fetch(app.graphqlUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: LOGIN, variables: { input: { email, password } } }),
        });
        expect(response.status).toBe(429);
        expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
        const result = (await response.json()) as GraphQLResponse;
        expect(result.data ?? null).toBeNull();
        expect(result.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "loginEmail" });
      }
    }
    await victim.expectUnharmed();
  });
});

describe("formerly known bugs", () => {
  // The raw id inside a global id reaches PostgreSQL, which cannot compare text with NUL (22021).
  it("a global id hiding a NUL answers like an unknown id, not INTERNAL_SERVER_ERROR", async ({ attacker }) => {
    const query = `query($id: ID!) { session(id: $id) { id } }`;
    const poisoned = await graphql(
      app.graphqlUrl,
      query,
      { id: globalId("Session", `${randomUUID()}\u0000`) },
      attacker.token,
    );
    const unknown = await graphql(app.graphqlUrl, query, { id: globalId("Session") }, attacker.token);
    expect(comparable(poisoned)).toEqual(comparable(unknown));
  });

  // graphql-tools marks variable coercion errors BAD_USER_INPUT for subscriptions only, not for execute.
  it("arguments of the wrong type carry BAD_USER_INPUT", async ({ attacker }) => {
    const result = await graphql(
      app.graphqlUrl,
      SEND,
      { input: { sessionId: globalId("Session"), content: 123 } },
      attacker.token,
    );
    expect(codes(result)).toEqual(["BAD_USER_INPUT"]);
  });
});
