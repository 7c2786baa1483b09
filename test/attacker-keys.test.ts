// Attacks on API keys and trusted documents (issue 14), through the real transports of a server in trusted mode
// (PERSISTED_DOCUMENTS_ONLY=true, as in production): arbitrary documents without a key over HTTP, SSE and graphql-ws,
// with or without an Origin, with a forged or invalid key; unknown hashes and a known hash carrying other text;
// revoked, expired and leaked-prefix keys; a key minting keys; a key reading another user's sessions.
import { rm } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { CSRF_HEADER } from "../src/api/yoga.ts";
import {
  CreateApiKeyDocument,
  CreateSessionDocument,
  MeDocument,
  MessageStreamDocument,
  MySessionsDocument,
  RegisterDocument,
  RevokeApiKeyDocument,
} from "./generated/graphql.ts";
import { firstSubscriptionResult, postGraphQL, wsClientWithApiKey, type GraphQLResponse } from "./support/clients.ts";
import { persistedBody, sha256Hex, signUpByHash, writeManifest, type Manifest } from "./support/persisted-documents.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

let manifest: Manifest;
let app: TestApp;
beforeAll(async () => {
  manifest = await writeManifest([
    RegisterDocument,
    MeDocument,
    MySessionsDocument,
    CreateSessionDocument,
    CreateApiKeyDocument,
    RevokeApiKeyDocument,
    MessageStreamDocument,
  ]);
  app = await startTestApp({
    PERSISTED_DOCUMENTS_ONLY: "true",
    PERSISTED_DOCUMENTS_PATH: manifest.path,
    ALLOWED_ORIGINS: "https://app.example.com",
  });
});
afterAll(async () => {
  await app?.cleanup();
  if (manifest) await rm(dirname(manifest.path), { recursive: true, force: true });
});

const codes = (result: GraphQLResponse) => result.errors?.map((error) => error.extensions?.code);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const CREATE_SESSION = `mutation { createSession(input: { name: "planted" }) { session { id } } }`;

/** Runs a trusted document the way the web app does. */
async function trusted(
  document: Parameters<Manifest["hashOf"]>[0],
  variables: Record<string, unknown>,
  headers: Record<string, string>,
) {
  return postGraphQL(app.graphqlUrl, persistedBody(manifest.hashOf(document), variables), headers);
}

async function sessionCount(token: string): Promise<number> {
  const result = await trusted(MySessionsDocument, {}, bearer(token));
  expect(result.errors).toBeUndefined();
  return result.data.me.sessions.totalCount;
}

async function newKey(token: string, input: Record<string, unknown> = {}) {
  const result = await trusted(CreateApiKeyDocument, { input: { name: "partner", ...input } }, bearer(token));
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.createApiKey as {
    secret: string;
    apiKey: { id: string; prefix: string; expiresAt: string | null };
  };
}

describe("attacker: arbitrary documents in trusted mode", () => {
  it("cannot run query text with a stolen access token over HTTP, with or without an Origin, and nothing runs", async () => {
    const victim = await signUpByHash(app.graphqlUrl, manifest);
    for (const headers of [
      bearer(victim.token),
      { ...bearer(victim.token), origin: "https://app.example.com" },
      { ...bearer(victim.token), origin: "https://evil.example" },
      {},
    ]) {
      const result = await postGraphQL(app.graphqlUrl, { query: CREATE_SESSION }, headers);
      expect(result.status, JSON.stringify(headers)).toBe(400);
      expect(codes(result)).toEqual(["PERSISTED_QUERY_ONLY"]);
    }
    // A known hash does not vouch for text sent with it: the text is what would run, so it is refused as text.
    const smuggled = await postGraphQL(
      app.graphqlUrl,
      { query: CREATE_SESSION, extensions: persistedBody(manifest.hashOf(MeDocument)).extensions },
      bearer(victim.token),
    );
    expect(codes(smuggled)).toEqual(["PERSISTED_QUERY_ONLY"]);
    expect(await sessionCount(victim.token)).toBe(0);
  });

  it("cannot unlock query text with a made-up, revoked or prefix-only API key", async () => {
    const victim = await signUpByHash(app.graphqlUrl, manifest);
    const { secret, apiKey } = await newKey(victim.token);
    await trusted(RevokeApiKeyDocument, { input: { apiKeyId: apiKey.id } }, bearer(victim.token));
    for (const key of [`agk_${"C".repeat(43)}`, secret, apiKey.prefix, "x"]) {
      const alone = await postGraphQL(app.graphqlUrl, { query: CREATE_SESSION }, { "x-api-key": key });
      expect(codes(alone), key).toEqual(["PERSISTED_QUERY_ONLY"]);
      const withToken = await postGraphQL(
        app.graphqlUrl,
        { query: CREATE_SESSION },
        { "x-api-key": key, ...bearer(victim.token) },
      );
      expect(codes(withToken), key).toEqual(["PERSISTED_QUERY_ONLY"]);
    }
    expect(await sessionCount(victim.token)).toBe(0);
  });

  it("cannot run query text over SSE (GET with a query) or graphql-ws; the socket stays usable for trusted documents", async () => {
    const victim = await signUpByHash(app.graphqlUrl, manifest);
    const url = new URL(app.graphqlUrl);
    url.searchParams.set("query", `subscription { messageStream(sessionId: "x") { __typename } }`);
    const sse = await fetch(url, {
      headers: { accept: "text/event-stream", ...bearer(victim.token), [CSRF_HEADER]: "1" },
    });
    const body = await sse.text();
    expect(body).toContain("PERSISTED_QUERY_ONLY");
    expect(body).not.toContain('"data"');
    const getQuery = new URL(app.graphqlUrl);
    getQuery.searchParams.set("query", `{ me { email } }`);
    const get = await fetch(getQuery, { headers: { ...bearer(victim.token), [CSRF_HEADER]: "1" } });
    expect(get.status).toBe(400);
    expect(codes((await get.json()) as GraphQLResponse)).toEqual(["PERSISTED_QUERY_ONLY"]);

    // A forged key next to the token makes the connection anonymous, and unlocks nothing either.
    for (const connectionParams of [
      { authorization: `Bearer ${victim.token}` },
      { authorization: `Bearer ${victim.token}`, apiKey: `agk_${"D".repeat(43)}` },
    ]) {
      let closed = false;
      // Not lazy: the socket stays open between operations, so a close here could only come from the server.
      const client = createClient({
        url: app.wsUrl,
        webSocketImpl: WebSocket,
        connectionParams,
        retryAttempts: 0,
        lazy: false,
        on: { closed: () => (closed = true) },
      });
      const refused = await firstSubscriptionResult(client, { query: CREATE_SESSION });
      expect(codes(refused)).toEqual(["PERSISTED_QUERY_ONLY"]);
      const unknown = await firstSubscriptionResult(client, {
        query: "",
        extensions: persistedBody(sha256Hex(CREATE_SESSION)).extensions,
      } as never);
      expect(codes(unknown)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
      const me = await firstSubscriptionResult(client, {
        query: "",
        extensions: persistedBody(manifest.hashOf(MeDocument)).extensions,
      } as never);
      expect(closed).toBe(false);
      expect(me.errors ?? []).toEqual(
        connectionParams.apiKey
          ? [expect.objectContaining({ extensions: expect.objectContaining({ code: "UNAUTHENTICATED" }) })]
          : [],
      );
      await client.dispose();
    }
    expect(await sessionCount(victim.token)).toBe(0);
  });

  it("gets PERSISTED_QUERY_NOT_FOUND for a hash the manifest does not hold, whatever its shape", async () => {
    const victim = await signUpByHash(app.graphqlUrl, manifest);
    for (const sha256Hash of [
      sha256Hex(CREATE_SESSION),
      "0".repeat(64),
      "../../etc/passwd",
      "__proto__",
      "constructor",
    ]) {
      const result = await postGraphQL(app.graphqlUrl, persistedBody(sha256Hash), bearer(victim.token));
      expect(result.status, sha256Hash).toBe(400);
      expect(codes(result), sha256Hash).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
    }
  });
});

describe("attacker: API keys", () => {
  it("a revoked or expired key is refused on every transport", async () => {
    const owner = await signUpByHash(app.graphqlUrl, manifest);
    const revoked = await newKey(owner.token);
    await trusted(RevokeApiKeyDocument, { input: { apiKeyId: revoked.apiKey.id } }, bearer(owner.token));
    const expired = await newKey(owner.token, { expiresAt: new Date(Date.now() + 1_000).toISOString() });
    await delay(Math.max(0, Date.parse(expired.apiKey.expiresAt!) - Date.now() + 50));
    for (const { secret } of [revoked, expired]) {
      const http = await trusted(MeDocument, {}, { "x-api-key": secret });
      expect(http.status).toBe(401);
      expect(codes(http)).toEqual(["UNAUTHENTICATED"]);
      const client = wsClientWithApiKey(app.wsUrl, secret);
      const ws = await firstSubscriptionResult(client, { query: `{ me { email } }` });
      await client.dispose();
      expect(ws.data ?? null).toBeNull();
      expect(codes(ws)).toEqual(["PERSISTED_QUERY_ONLY"]);
    }
  });

  it("a key cannot mint or revoke keys, even through the trusted documents", async () => {
    const owner = await signUpByHash(app.graphqlUrl, manifest);
    const { secret, apiKey } = await newKey(owner.token);
    const minted = await trusted(CreateApiKeyDocument, { input: { name: "backdoor" } }, { "x-api-key": secret });
    expect(codes(minted)).toEqual(["FORBIDDEN"]);
    const asText = await postGraphQL(
      app.graphqlUrl,
      { query: CreateApiKeyDocument, variables: { input: { name: "backdoor" } } },
      { "x-api-key": secret },
    );
    expect(codes(asText)).toEqual(["FORBIDDEN"]);
    const revoke = await trusted(RevokeApiKeyDocument, { input: { apiKeyId: apiKey.id } }, { "x-api-key": secret });
    expect(codes(revoke)).toEqual(["FORBIDDEN"]);
    const keys = await postGraphQL(
      app.graphqlUrl,
      { query: `{ me { apiKeys { id revokedAt } } }` },
      { "x-api-key": secret },
    );
    expect(keys.data.me.apiKeys).toEqual([{ id: apiKey.id, revokedAt: null }]);
  });

  it("user A's key cannot read user B's sessions, on any path", async () => {
    const alice = await signUpByHash(app.graphqlUrl, manifest);
    const bob = await signUpByHash(app.graphqlUrl, manifest);
    const bobs = await trusted(CreateSessionDocument, { input: { name: "Bob's secrets" } }, bearer(bob.token));
    const sessionId = bobs.data.createSession.session.id;
    const { secret } = await newKey(alice.token);
    const key = { "x-api-key": secret };

    const direct = await postGraphQL(
      app.graphqlUrl,
      { query: `query($id: ID!) { session(id: $id) { name } }`, variables: { id: sessionId } },
      key,
    );
    expect(codes(direct)).toEqual(["NOT_FOUND"]);
    const sessionName = {
      query: `query($id: ID!) { node(id: $id) { ... on Session { name } } }`,
      variables: { id: sessionId },
    };
    const node = await postGraphQL(app.graphqlUrl, sessionName, key);
    expect(node.errors).toBeUndefined();
    expect(node.data).toEqual({ node: null });
    // The same query finds the session with its owner's key: Alice's null is a refusal, not a query that finds nothing.
    const bobsKey = await newKey(bob.token);
    expect((await postGraphQL(app.graphqlUrl, sessionName, { "x-api-key": bobsKey.secret })).data).toEqual({
      node: { name: "Bob's secrets" },
    });
    const mine = await postGraphQL(app.graphqlUrl, { query: `{ me { sessions(first: 10) { totalCount } } }` }, key);
    expect(mine.data.me.sessions.totalCount).toBe(0);
    const client = wsClientWithApiKey(app.wsUrl, secret);
    const stream = await firstSubscriptionResult(client, {
      query: `subscription($s: ID!) { messageStream(sessionId: $s) { __typename } }`,
      variables: { s: sessionId },
    });
    await client.dispose();
    expect(codes(stream)).toEqual(["NOT_FOUND"]);
    expect(JSON.stringify([direct, node, stream])).not.toContain("Bob's secrets");
  });

  it("a leaked prefix (what me.apiKeys shows) is not a key, nor is the prefix with a guessed rest", async () => {
    const owner = await signUpByHash(app.graphqlUrl, manifest);
    const { secret, apiKey } = await newKey(owner.token);
    expect(secret.startsWith(apiKey.prefix)).toBe(true);
    for (const guess of [
      apiKey.prefix,
      apiKey.prefix + "A".repeat(secret.length - apiKey.prefix.length),
      secret.slice(0, -1),
    ]) {
      const result = await trusted(MeDocument, {}, { "x-api-key": guess });
      expect(result.status, guess).toBe(401);
      expect(codes(result), guess).toEqual(["UNAUTHENTICATED"]);
    }
    // The real one still works (the guesses did not disturb it).
    expect(
      (await postGraphQL(app.graphqlUrl, { query: `{ me { email } }` }, { "x-api-key": secret })).data.me.email,
    ).toBe(owner.email);
  });
});
