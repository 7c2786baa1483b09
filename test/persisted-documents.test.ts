// Trusted documents end to end: a first-party client sends only hashes from the manifest (urql's wire format, the
// GET form and `documentId`), over HTTP, SSE and graphql-ws; unknown hashes are PERSISTED_QUERY_NOT_FOUND; with
// PERSISTED_DOCUMENTS_ONLY query text needs an API key; the switch's defaults and the refusal to start without a
// manifest. The attacks on these rules are in attacker-keys.test.ts.
import { rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { print } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp } from "../src/app.ts";
import { ConfigError, loadConfig } from "../src/config/index.ts";
import { CSRF_HEADER } from "../src/api/yoga.ts";
import {
  CreateApiKeyDocument,
  CreateSessionDocument,
  MeDocument,
  RegisterDocument,
  MessageStreamDocument,
  MySessionsDocument,
  SendMessageDocument,
} from "./generated/graphql.ts";
import {
  firstSubscriptionResult,
  postGraphQL,
  sendAndCollectReply,
  signUp,
  wsClient,
  wsClientWithApiKey,
  type GraphQLResponse,
} from "./support/clients.ts";
import { persistedBody, sha256Hex, signUpByHash, writeManifest, type Manifest } from "./support/persisted-documents.ts";
import { startTestApp, testEnvironment, type TestApp } from "./support/test-app.ts";

const codes = (result: GraphQLResponse) => result.errors?.map((error) => error.extensions?.code);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let manifest: Manifest;
let app: TestApp;
beforeAll(async () => {
  manifest = await writeManifest([
    MeDocument,
    MySessionsDocument,
    CreateSessionDocument,
    SendMessageDocument,
    MessageStreamDocument,
    CreateApiKeyDocument,
    RegisterDocument,
  ]);
  app = await startTestApp({ PERSISTED_DOCUMENTS_ONLY: "true", PERSISTED_DOCUMENTS_PATH: manifest.path });
});
afterAll(async () => {
  await app?.cleanup();
  if (manifest) await rm(dirname(manifest.path), { recursive: true, force: true });
});

describe("trusted documents (PERSISTED_DOCUMENTS_ONLY=true)", () => {
  it("runs a known hash sent the way urql's persisted exchange sends it (POST, no query)", async () => {
    const user = await signUpByHash(app.graphqlUrl, manifest);
    const result = await postGraphQL(
      app.graphqlUrl,
      { operationName: "Me", ...persistedBody(manifest.hashOf(MeDocument)) },
      bearer(user.token),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data.me.id).toBe(user.userId);
  });

  it("runs a known hash as a GET (extensions in the query string) and as `documentId`", async () => {
    const user = await signUpByHash(app.graphqlUrl, manifest);
    const url = new URL(app.graphqlUrl);
    url.searchParams.set("extensions", JSON.stringify(persistedBody(manifest.hashOf(MeDocument)).extensions));
    const get = await fetch(url, { headers: { ...bearer(user.token), [CSRF_HEADER]: "1" } });
    expect(get.status).toBe(200);
    expect(((await get.json()) as GraphQLResponse).data.me.id).toBe(user.userId);

    for (const documentId of [manifest.hashOf(MeDocument), `sha256:${manifest.hashOf(MeDocument)}`]) {
      const result = await postGraphQL(app.graphqlUrl, { documentId }, bearer(user.token));
      expect(result.errors, documentId).toBeUndefined();
      expect(result.data.me.id).toBe(user.userId);
    }
  });

  it("answers an unknown hash with PERSISTED_QUERY_NOT_FOUND, and a request naming nothing with PERSISTED_QUERY_ID_REQUIRED", async () => {
    const user = await signUpByHash(app.graphqlUrl, manifest);
    const unknown = await postGraphQL(app.graphqlUrl, persistedBody(sha256Hex("{ me { email } }")), bearer(user.token));
    expect(unknown.status).toBe(400);
    expect(unknown.errors).toEqual([
      expect.objectContaining({
        message: "PersistedQueryNotFound",
        extensions: expect.objectContaining({ code: "PERSISTED_QUERY_NOT_FOUND" }),
      }),
    ]);
    const nothing = await postGraphQL(app.graphqlUrl, { variables: {} }, bearer(user.token));
    expect(nothing.status).toBe(400);
    expect(codes(nothing)).toEqual(["PERSISTED_QUERY_ID_REQUIRED"]);
  });

  it("refuses query text without an API key (PERSISTED_QUERY_ONLY, 400) and runs it with one", async () => {
    const user = await signUpByHash(app.graphqlUrl, manifest);
    const text = await postGraphQL(app.graphqlUrl, { query: MeDocument }, bearer(user.token));
    expect(text.status).toBe(400);
    expect(codes(text)).toEqual(["PERSISTED_QUERY_ONLY"]);
    expect(text.data).toBeUndefined();

    const { secret } = await createApiKeyByHash(user.token);
    const byKey = await postGraphQL(app.graphqlUrl, { query: `{ me { id email } }` }, { "x-api-key": secret });
    expect(byKey.errors).toBeUndefined();
    expect(byKey.data.me).toEqual({ id: user.userId, email: user.email });
  });

  it("runs trusted documents over graphql-ws (an empty query and the hash), and an API key's text", async () => {
    const user = await signUpByHash(app.graphqlUrl, manifest);
    const client = wsClient(app.wsUrl, user.token);
    const created = await firstSubscriptionResult(client, {
      query: "",
      variables: { input: { name: "over ws" } },
      extensions: persistedBody(manifest.hashOf(CreateSessionDocument)).extensions,
    } as never);
    expect(created.errors).toBeUndefined();
    const sessionId = created.data.createSession.session.id;
    const { events } = await sendAndCollectReply(
      app,
      user,
      { sessionId, content: "hello" },
      { client, hashOf: manifest.hashOf },
    );
    expect(events.at(-1)?.__typename).toBe("MessageCompleted");
    await client.dispose();

    const { secret } = await createApiKeyByHash(user.token);
    const partner = wsClientWithApiKey(app.wsUrl, secret);
    const byKey = await firstSubscriptionResult(partner, { query: `{ me { id } }` });
    await partner.dispose();
    expect(byKey.data.me.id).toBe(user.userId);
  });

  it("counts refusals in graphql_trusted_document_refusals_total by transport and code", async () => {
    await postGraphQL(app.graphqlUrl, { query: `{ __typename }` });
    const client = wsClient(app.wsUrl);
    await firstSubscriptionResult(client, { query: `{ __typename }` });
    await client.dispose();
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(
      /graphql_trusted_document_refusals_total\{code="PERSISTED_QUERY_ONLY",transport="http"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /graphql_trusted_document_refusals_total\{code="PERSISTED_QUERY_ONLY",transport="ws"\} [1-9]/,
    );
  });
});

describe("trusted documents outside PERSISTED_DOCUMENTS_ONLY", () => {
  it("is off in development and test and on in staging and production unless set", () => {
    const base = {
      JWT_SECRET: "q8X2vLm4Rt9pWz1KcY7nB3sDf6Hj0AeGu5iOkPlM",
      OPENAI_API_KEY: "sk-test",
      METRICS_TOKEN: "0123456789abcdef0123",
    };
    for (const [appEnv, only] of [
      ["development", false],
      ["test", false],
      ["staging", true],
      ["production", true],
    ] as const) {
      expect(loadConfig({ ...base, APP_ENV: appEnv }).persistedDocuments.only, appEnv).toBe(only);
    }
    expect(
      loadConfig({ ...base, APP_ENV: "production", PERSISTED_DOCUMENTS_ONLY: "false" }).persistedDocuments.only,
    ).toBe(false);
    expect(loadConfig({ ...base, APP_ENV: "development" }).persistedDocuments.path).toBe(
      "web/src/generated/persisted-documents.json",
    );
  });

  it("refuses to start with the switch on and the manifest missing or not matching its documents", async () => {
    const environment = await testEnvironment();
    try {
      const missing = `${environment.dataDir}/none.json`;
      const broken = `${environment.dataDir}/broken.json`;
      await writeFile(broken, JSON.stringify({ [sha256Hex("{ me { id } }")]: "{ me { email } }" }));
      for (const path of [missing, broken]) {
        const config = loadConfig({
          ...environment.env,
          PERSISTED_DOCUMENTS_ONLY: "true",
          PERSISTED_DOCUMENTS_PATH: path,
        });
        const started = startApp(config);
        await expect(started, path).rejects.toBeInstanceOf(ConfigError);
        await expect(started, path).rejects.toThrow(/PERSISTED_DOCUMENTS_PATH: .*(none|broken)\.json/);
      }
    } finally {
      await environment.cleanup();
    }
  });

  it("without the switch and without a manifest, runs query text and knows no hash", async () => {
    const dev = await startTestApp({ PERSISTED_DOCUMENTS_PATH: "/nonexistent/persisted-documents.json" });
    try {
      const user = await signUp(dev.graphqlUrl);
      expect((await postGraphQL(dev.graphqlUrl, { query: MeDocument }, bearer(user.token))).data.me.id).toBe(
        user.userId,
      );
      const hashed = await postGraphQL(dev.graphqlUrl, persistedBody(sha256Hex(print(MeDocument))), bearer(user.token));
      expect(codes(hashed)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
    } finally {
      await dev.cleanup();
    }
  });
});

/** An API key made the first-party way: the owner's token and createApiKey's hash. */
async function createApiKeyByHash(token: string): Promise<{ secret: string }> {
  const result = await postGraphQL(
    app.graphqlUrl,
    persistedBody(manifest.hashOf(CreateApiKeyDocument), { input: { name: "partner" } }),
    bearer(token),
  );
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return { secret: result.data.createApiKey.secret };
}
