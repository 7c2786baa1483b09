// What a real process writes to its log for a register / login / send / refresh / logout, read back line by line:
// JSON with the ids of the request or run it belongs to, and never a password, a token or a message body.
import { afterAll, describe, expect, it } from "vitest";
import { LoginDocument, RefreshTokenDocument, RegisterDocument } from "./generated/graphql.ts";
import { createSession, graphql, sendAndCollectReply, strongPassword } from "./support/clients.ts";
import { startServerProcess } from "./support/server-process.ts";
import { testEnvironment } from "./support/test-app.ts";

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe("logs of a real run", () => {
  it("are JSON lines with request, user and session ids, and hold no password, token or message text", {
    timeout: 120_000,
  }, async () => {
    const environment = await testEnvironment();
    cleanups.push(environment.cleanup);
    // debug, a level below the default: what holds there holds at info too.
    const server = await startServerProcess(environment.env, 60_000, "debug");
    cleanups.push(async () => server.child.kill("SIGKILL"));
    const url = `${server.url}/graphql`;

    const email = `logged-${Date.now()}@example.com`;
    const password = strongPassword();
    const secretText = `my bank PIN is 4711-${Math.random().toString(36).slice(2)}`;
    const registered = await graphql(url, RegisterDocument, { input: { email, password } });
    // Logs use database ids; the API shows global ones ("User:<id>", base64).
    const userId = Buffer.from(registered.data!.register.user.id, "base64")
      .toString()
      .replace(/^User:/, "");
    const login = await graphql(url, LoginDocument, { input: { email, password } });
    const wrong = await graphql(url, LoginDocument, { input: { email, password: `${password}x` } });
    expect(wrong.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const { token } = login.data!.login;
    const refreshed = await graphql(url, RefreshTokenDocument, {
      input: { refreshToken: login.data!.login.refreshToken },
    });
    const sessionId = await createSession(url, token);
    const requestId = `trace-${Date.now()}`;
    const endpoints = { graphqlUrl: url, wsUrl: url.replace("http", "ws") };
    const { events } = await sendAndCollectReply(
      endpoints,
      { token },
      { sessionId, content: secretText },
      { headers: { "x-request-id": requestId } },
    );
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
    for (const secret of [
      password,
      token,
      login.data!.login.refreshToken,
      refreshed.data!.refreshToken.token,
      secretText,
      "4711-",
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain(email); // emails are personal data: ids identify users in logs
    expect(text).not.toMatch(/Bearer\s/i);

    // Every line is one JSON object with a level, a time and a message.
    for (const record of records)
      expect(record).toMatchObject({ level: expect.any(Number), time: expect.any(Number), msg: expect.any(String) });

    // Lines written while serving a request carry its id, and its user once the token was checked.
    const operations = records.filter((record) => record.msg === "graphql operation");
    expect(operations.length).toBeGreaterThanOrEqual(6);
    expect(operations.every((record) => typeof record.requestId === "string")).toBe(true);
    const send = operations.find((record) => record.requestId === requestId);
    expect(send).toMatchObject({ operationType: "mutation", userId, sessionId: expect.any(String) });
    // The reply ran in the background, still under the ids of the request that started it, and its own.
    const finished = records.find((record) => record.msg === "reply finished");
    expect(finished).toMatchObject({
      requestId,
      userId,
      sessionId: send!.sessionId,
      messageId: expect.any(String),
      status: "COMPLETE",
    });
    expect(records.find((record) => record.msg === "stopped")).toBeDefined();
  });
});
