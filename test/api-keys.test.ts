// API keys end to end, over HTTP, SSE and graphql-ws: created with the secret shown once, authenticating as the owner,
// refused (one message) when unknown, expired or revoked, unable to manage keys or sign-ins, limited in their own
// bucket, and allowed introspection where it is off.
import { setTimeout as delay } from "node:timers/promises";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  CreateApiKeyDocument,
  LogoutDocument,
  MeDocument,
  MyApiKeysDocument,
  RefreshTokenDocument,
  RevokeApiKeyDocument,
  SendMessageDocument,
} from "./generated/graphql.ts";
import {
  createApiKey,
  createSession,
  firstSubscriptionResult,
  graphql,
  MESSAGE_STREAM,
  postGraphQL,
  sendAndCollectReply,
  signUp,
  wsClientWithApiKey,
  type GraphQLResponse,
} from "./support/clients.ts";
import { sseSubscribe } from "./support/sse.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const API_KEY_LIMIT = 20;
const INVALID_KEY = "The API key is invalid, expired or revoked.";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({
    // As in production: introspection off, except for API keys (and field suggestions with it).
    GRAPHQL_INTROSPECTION: "false",
    GRAPHQL_FIELD_SUGGESTIONS: "true",
    RATE_LIMIT_API_KEY_PER_MINUTE: String(API_KEY_LIMIT),
  });
});
afterAll(async () => {
  await app?.cleanup();
});

const codes = (result: GraphQLResponse) => result.errors?.map((error) => error.extensions?.code);
const withKey = (secret: string) => ({ "x-api-key": secret });
const INTROSPECTION = `{ __schema { queryType { name } } }`;

describe("API keys", () => {
  it("shows the secret once, lists the key without it, and authenticates as the owner over HTTP", async () => {
    const owner = await signUp(app.graphqlUrl);
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const created = await graphql(
      app.graphqlUrl,
      CreateApiKeyDocument,
      { input: { name: "  Acme CRM  ", expiresAt } },
      owner.token,
    );
    expect(created.errors).toBeUndefined();
    const { secret, apiKey } = created.data!.createApiKey;
    expect(secret).toMatch(/^agk_[A-Za-z0-9_-]{43}$/);
    expect(apiKey).toMatchObject({
      name: "Acme CRM",
      prefix: secret.slice(0, 12),
      expiresAt,
      lastUsedAt: null,
      revokedAt: null,
    });

    const me = await postGraphQL(app.graphqlUrl, { query: MeDocument }, withKey(secret));
    expect(me.errors).toBeUndefined();
    expect(me.data.me.id).toBe(owner.userId);

    const listed = await graphql(app.graphqlUrl, MyApiKeysDocument, {}, owner.token);
    expect(listed.data!.me!.apiKeys).toEqual([{ ...apiKey, lastUsedAt: expect.any(String) }]);
    // The secret is nowhere in what the API returns about the key.
    expect(JSON.stringify(listed)).not.toContain(secret.slice(12));
  });

  it("works over graphql-ws (connectionParams.apiKey) and SSE (x-api-key): a partner sends and streams a reply", async () => {
    const owner = await signUp(app.graphqlUrl);
    const { secret } = await createApiKey(app.graphqlUrl, owner.token);
    const sessionId = await createSession(app.graphqlUrl, owner.token);
    const { streamCursor, events } = await sendAndCollectReply(app, { apiKey: secret }, { sessionId, content: "hi" });
    expect(events.at(-1)?.__typename).toBe("MessageCompleted");

    const variables = { sessionId, after: streamCursor };
    const sse = await sseSubscribe(app.graphqlUrl, MESSAGE_STREAM, variables, undefined, withKey(secret));
    const overSse: string[] = [];
    while (overSse.at(-1) !== "MessageCompleted") {
      const next = await sse.next();
      expect(next?.errors).toBeUndefined();
      overSse.push(next!.data.messageStream.__typename);
    }
    await sse.close();
  });

  it("refuses unknown, malformed, expired and revoked keys alike, with one message", async () => {
    const owner = await signUp(app.graphqlUrl);
    const revoked = await createApiKey(app.graphqlUrl, owner.token);
    const expiring = await createApiKey(app.graphqlUrl, owner.token, {
      expiresAt: new Date(Date.now() + 1_000).toISOString(),
    });
    expect((await postGraphQL(app.graphqlUrl, { query: MeDocument }, withKey(expiring.secret))).data.me.id).toBe(
      owner.userId,
    );
    const revokedResult = await graphql(
      app.graphqlUrl,
      RevokeApiKeyDocument,
      { input: { apiKeyId: revoked.id } },
      owner.token,
    );
    expect(revokedResult.data!.revokeApiKey.apiKey.revokedAt).not.toBeNull();
    await delay(Math.max(0, Date.parse(expiring.apiKey.expiresAt!) - Date.now() + 50));

    const unknown = `agk_${"A".repeat(43)}`;
    for (const secret of [revoked.secret, expiring.secret, unknown, "not-a-key", revoked.secret.slice(0, 12)]) {
      const result = await postGraphQL(app.graphqlUrl, { query: MeDocument }, withKey(secret));
      expect(result.status, secret).toBe(401);
      expect(result.errors, secret).toEqual([
        expect.objectContaining({
          message: INVALID_KEY,
          extensions: expect.objectContaining({ code: "UNAUTHENTICATED" }),
        }),
      ]);
      expect(result.data, secret).toBeUndefined();
    }
    // Over graphql-ws a bad key authenticates nothing: operations are refused like an anonymous caller's.
    const client = wsClientWithApiKey(app.wsUrl, revoked.secret);
    const ws = await firstSubscriptionResult(client, { query: `{ me { id } }` });
    await client.dispose();
    expect(codes(ws)).toEqual(["UNAUTHENTICATED"]);
  });

  it("refuses a token and a key together (which one would act is not guessed)", async () => {
    const owner = await signUp(app.graphqlUrl);
    const { secret } = await createApiKey(app.graphqlUrl, owner.token);
    const result = await postGraphQL(
      app.graphqlUrl,
      { query: MeDocument },
      { ...withKey(secret), authorization: `Bearer ${owner.token}` },
    );
    expect(result.status).toBe(401);
    expect(codes(result)).toEqual(["UNAUTHENTICATED"]);
  });

  it("ends a revoked key's open graphql-ws socket and SSE stream at once", async () => {
    const owner = await signUp(app.graphqlUrl);
    const { secret, id } = await createApiKey(app.graphqlUrl, owner.token);
    const sessionId = await createSession(app.graphqlUrl, owner.token);
    const sent = await graphql(
      app.graphqlUrl,
      SendMessageDocument,
      { input: { sessionId, content: "hi" } },
      owner.token,
    );
    let connected!: () => void;
    const isConnected = new Promise<void>((resolve) => (connected = resolve));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      const client = createClient({
        url: app.wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: { apiKey: secret },
        retryAttempts: 0,
        on: { connected: () => connected(), closed: (event) => resolve(event as { code: number; reason: string }) },
      });
      client.subscribe(
        { query: MESSAGE_STREAM, variables: { sessionId } },
        { next: () => {}, error: () => {}, complete: () => {} },
      );
    });
    await isConnected;
    // Replayed from the send, so the stream is known to be running before the key is revoked.
    const variables = { sessionId, after: sent.data!.sendMessage.streamCursor };
    const sse = await sseSubscribe(app.graphqlUrl, MESSAGE_STREAM, variables, undefined, withKey(secret));
    expect((await sse.next())?.errors).toBeUndefined();

    await graphql(app.graphqlUrl, RevokeApiKeyDocument, { input: { apiKeyId: id } }, owner.token);
    expect(await closed).toEqual(expect.objectContaining({ code: 4401 }));
    let last = await sse.next();
    while (last && !last.errors) last = await sse.next();
    expect(codes(last!)).toEqual(["UNAUTHENTICATED"]);
    expect(last!.errors![0]!.message).toContain("The API key was revoked");
    await sse.close();
  });

  it("cannot create or revoke keys, refresh tokens, sign in or sign out (FORBIDDEN), and nothing changes", async () => {
    const owner = await signUp(app.graphqlUrl);
    const { secret, id } = await createApiKey(app.graphqlUrl, owner.token);
    const attempts = [
      { query: CreateApiKeyDocument, variables: { input: { name: "minted by a key" } } },
      { query: RevokeApiKeyDocument, variables: { input: { apiKeyId: id } } },
      { query: LogoutDocument, variables: { input: { everywhere: true } } },
      { query: RefreshTokenDocument, variables: { input: { refreshToken: owner.refreshToken } } },
      {
        query: `mutation($input: LoginInput!) { login(input: $input) { token } }`,
        variables: { input: { email: owner.email, password: owner.password } },
      },
    ];
    for (const attempt of attempts) {
      const result = await postGraphQL(app.graphqlUrl, attempt, withKey(secret));
      expect(codes(result), JSON.stringify(attempt.variables)).toEqual(["FORBIDDEN"]);
    }
    const keys = await graphql(app.graphqlUrl, MyApiKeysDocument, {}, owner.token);
    expect(keys.data!.me!.apiKeys.map((key) => [key.id, key.revokedAt])).toEqual([[id, null]]);
    // The owner's login and refresh token still work: the key ended nothing.
    expect((await graphql(app.graphqlUrl, MeDocument, {}, owner.token)).data!.me!.id).toBe(owner.userId);
    expect(
      (await graphql(app.graphqlUrl, RefreshTokenDocument, { input: { refreshToken: owner.refreshToken } })).errors,
    ).toBeUndefined();
  });

  it("validates the name and the expiry, naming the field, and stores nothing", async () => {
    const owner = await signUp(app.graphqlUrl);
    const cases = [
      [{ name: "   " }, "input.name"],
      [{ name: "x".repeat(101) }, "input.name"],
      [{ name: "ok", expiresAt: new Date(Date.now() - 1_000).toISOString() }, "input.expiresAt"],
    ] as const;
    for (const [input, field] of cases) {
      const result = await graphql(app.graphqlUrl, CreateApiKeyDocument, { input }, owner.token);
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    }
    expect((await graphql(app.graphqlUrl, MyApiKeysDocument, {}, owner.token)).data!.me!.apiKeys).toEqual([]);
  });

  it("revokes only the viewer's own keys: someone else's id is NOT_FOUND and the key keeps working", async () => {
    const alice = await signUp(app.graphqlUrl);
    const mallory = await signUp(app.graphqlUrl);
    const { secret, id } = await createApiKey(app.graphqlUrl, alice.token);
    const result = await graphql(app.graphqlUrl, RevokeApiKeyDocument, { input: { apiKeyId: id } }, mallory.token);
    expect(codes(result)).toEqual(["NOT_FOUND"]);
    const NODE = `query($id: ID!) { node(id: $id) { id } }`;
    const node = await graphql(app.graphqlUrl, NODE, { id }, mallory.token);
    expect(node.errors).toBeUndefined();
    expect(node.data.node).toBeNull();
    expect((await graphql(app.graphqlUrl, NODE, { id }, alice.token)).data).toEqual({ node: { id } }); // the owner's is found
    expect((await postGraphQL(app.graphqlUrl, { query: MeDocument }, withKey(secret))).data.me.id).toBe(alice.userId);
  });

  it("is limited per key in its own bucket, apart from the owner's interactive use", async () => {
    const owner = await signUp(app.graphqlUrl);
    const { secret } = await createApiKey(app.graphqlUrl, owner.token);
    const other = await createApiKey(app.graphqlUrl, owner.token, { name: "second partner" });
    for (let i = 0; i < API_KEY_LIMIT; i++) {
      expect((await postGraphQL(app.graphqlUrl, { query: `{ __typename }` }, withKey(secret))).errors).toBeUndefined();
    }
    const refused = await postGraphQL(app.graphqlUrl, { query: `{ __typename }` }, withKey(secret));
    expect(refused.status).toBe(429);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "apiKey" });
    // The owner and the owner's other key are untouched.
    expect((await graphql(app.graphqlUrl, MeDocument, {}, owner.token)).errors).toBeUndefined();
    expect((await postGraphQL(app.graphqlUrl, { query: MeDocument }, withKey(other.secret))).errors).toBeUndefined();
  });

  it("is held to the query cost and depth limits like any caller", async () => {
    const owner = await signUp(app.graphqlUrl);
    const { secret } = await createApiKey(app.graphqlUrl, owner.token);
    const costly = `{ me { sessions(first: 100) { edges { node { messages(first: 100) { edges { node { id } } } } } } } }`;
    const refused = await postGraphQL(app.graphqlUrl, { query: costly }, withKey(secret));
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_LIMIT_EXCEEDED", limit: "cost" });
    // 13 fields deep: over GRAPHQL_MAX_DEPTH (12).
    const deep = `{ me { sessions(first: 1) { edges { node { messages(first: 1) { edges { node { session {
      messages(first: 1) { edges { node { session { name } } } } } } } } } } } } }`;
    expect((await postGraphQL(app.graphqlUrl, { query: deep }, withKey(secret))).errors?.[0]?.extensions).toMatchObject(
      {
        code: "QUERY_LIMIT_EXCEEDED",
        limit: "depth",
      },
    );
  });

  it("may introspect and get field suggestions where introspection is off; tokens, anonymous callers and bad keys may not", async () => {
    const owner = await signUp(app.graphqlUrl);
    const { secret } = await createApiKey(app.graphqlUrl, owner.token);
    const byKey = await postGraphQL(app.graphqlUrl, { query: INTROSPECTION }, withKey(secret));
    expect(byKey.errors).toBeUndefined();
    expect(byKey.data.__schema.queryType.name).toBe("Query");
    const refusal = (result: GraphQLResponse) => [...new Set(codes(result))];
    expect(refusal(await graphql(app.graphqlUrl, INTROSPECTION, {}, owner.token))).toEqual(["INTROSPECTION_DISABLED"]);
    expect(refusal(await graphql(app.graphqlUrl, INTROSPECTION))).toEqual(["INTROSPECTION_DISABLED"]);
    const badKey = await postGraphQL(app.graphqlUrl, { query: INTROSPECTION }, withKey(`agk_${"B".repeat(43)}`));
    expect(badKey.data).toBeUndefined();
    expect(refusal(badKey)).toEqual(["INTROSPECTION_DISABLED"]);

    const client = wsClientWithApiKey(app.wsUrl, secret);
    const overWs = await firstSubscriptionResult(client, { query: INTROSPECTION });
    await client.dispose();
    expect(overWs.errors).toBeUndefined();
    expect(overWs.data.__schema.queryType.name).toBe("Query");

    // Field suggestions spell out the schema too, so they follow the same rule.
    const TYPO = `{ mee { id } }`;
    expect((await postGraphQL(app.graphqlUrl, { query: TYPO }, withKey(secret))).errors?.[0]?.message).toContain(
      'Did you mean "me"?',
    );
    const hidden = await graphql(app.graphqlUrl, TYPO, {}, owner.token);
    expect(codes(hidden)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    expect(hidden.errors?.[0]?.message).not.toContain("Did you mean");
    // An invalid key gets the validation error without the suggestion (not a refusal, which would hide it anyway).
    const typoWithBadKey = await postGraphQL(app.graphqlUrl, { query: TYPO }, withKey(`agk_${"B".repeat(43)}`));
    expect(codes(typoWithBadKey)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    expect(typoWithBadKey.errors?.[0]?.message).not.toContain("Did you mean");
  });
});
