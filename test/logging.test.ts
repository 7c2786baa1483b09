// What a real process writes to its log for a register / login / send / refresh / logout, read back line by line:
// JSON with the ids of the request or run it belongs to, and never a password, a token or a message body.
import { afterAll, describe, expect, it } from "vitest";
import { collectReply, createSession, graphql, strongPassword, wsClient } from "./support/clients.ts";
import { startServerProcess } from "./support/server-process.ts";
import { testEnvironment } from "./support/test-app.ts";

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token refreshToken user { id } } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token refreshToken } }`;
const REFRESH = `mutation($input: RefreshTokenInput!) { refreshToken(input: $input) { token refreshToken } }`;
const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } streamCursor } }`;

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe("logs of a real run", () => {
  it("are JSON lines with request, user and session ids, and hold no password, token or message text", { timeout: 120_000 }, async () => {
    const environment = await testEnvironment();
    cleanups.push(environment.cleanup);
    // debug, a level below the default: what holds there holds at info too.
    const server = await startServerProcess(environment.env, 60_000, "debug");
    cleanups.push(async () => server.child.kill("SIGKILL"));
    const url = `${server.url}/graphql`;

    const email = `logged-${Date.now()}@example.com`;
    const password = strongPassword();
    const secretText = `my bank PIN is 4711-${Math.random().toString(36).slice(2)}`;
    const registered = await graphql(url, REGISTER, { input: { email, password } });
    // Logs use database ids; the API shows global ones ("User:<id>", base64).
    const userId = Buffer.from(registered.data.register.user.id, "base64").toString().replace(/^User:/, "");
    const login = await graphql(url, LOGIN, { input: { email, password } });
    const wrong = await graphql(url, LOGIN, { input: { email, password: `${password}x` } });
    expect(wrong.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const { token } = login.data.login;
    const refreshed = await graphql(url, REFRESH, { input: { refreshToken: login.data.login.refreshToken } });
    const sessionId = await createSession(url, token);
    const requestId = `trace-${Date.now()}`;
    const sent = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "x-request-id": requestId },
      body: JSON.stringify({ query: SEND, variables: { input: { sessionId, content: secretText } } }),
    }).then((response) => response.json() as Promise<{ data: any }>);
    const client = wsClient(url.replace("http", "ws"), token);
    const events = await collectReply(client, { sessionId, after: sent.data.sendMessage.streamCursor }, sent.data.sendMessage.reply.id);
    await client.dispose();
    const replyText = events.at(-1)!.message!.content;
    expect(replyText).toContain(secretText); // the dev model quotes the message: its reply is user content too
    // A bad token in a header is logged nowhere either.
    await graphql(url, "{ me { id } }", {}, `${token}tampered`);

    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const lines = server.lines;
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const text = lines.join("\n");

    // Nothing secret, in any form.
    for (const secret of [password, token, login.data.login.refreshToken, refreshed.data.refreshToken.token, secretText, "4711-"]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain(email); // emails are personal data: ids identify users in logs
    expect(text).not.toMatch(/Bearer\s/i);

    // Every line is one JSON object with a level, a time and a message.
    for (const record of records) expect(record).toMatchObject({ level: expect.any(Number), time: expect.any(Number), msg: expect.any(String) });

    // Lines written while serving a request carry its id, and its user once the token was checked.
    const operations = records.filter((record) => record.msg === "graphql operation");
    expect(operations.length).toBeGreaterThanOrEqual(6);
    expect(operations.every((record) => typeof record.requestId === "string")).toBe(true);
    const send = operations.find((record) => record.requestId === requestId);
    expect(send).toMatchObject({ operationType: "mutation", userId, sessionId: expect.any(String) });
    // The reply ran in the background, still under the ids of the request that started it, and its own.
    const finished = records.find((record) => record.msg === "reply finished");
    expect(finished).toMatchObject({ requestId, userId, sessionId: send!.sessionId, messageId: expect.any(String), status: "COMPLETE" });
    expect(records.find((record) => record.msg === "stopped")).toBeDefined();
  });
});
