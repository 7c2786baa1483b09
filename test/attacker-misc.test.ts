// Attacks found by reading (issue 10, "other findings"), each through the real transports: cursors that counted the
// whole platform, padding that slipped past MAX_MESSAGE_CHARS, an unset environment that ran as development, login
// guesses that locked the owner out, and /metrics open in a deployed environment.
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { print } from "graphql";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { LoginDocument, SendMessageDocument } from "./generated/graphql.ts";
import {
  collectReply,
  createSession,
  firstSubscriptionResult,
  graphql,
  MESSAGE_STREAM,
  sendAndCollectReply,
  signUp,
  wsClient,
  type GraphQLResponse,
  type StreamEvent,
} from "./support/clients.ts";
import { sseSubscribe } from "./support/sse.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const LOGIN_ATTEMPTS = 3;
const MAX_MESSAGE_CHARS = 10_000;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({
    // The tests speak from several addresses through X-Forwarded-For, as clients behind one trusted proxy do.
    TRUSTED_PROXY_HOPS: "1",
    RATE_LIMIT_LOGIN_PER_EMAIL_PER_15_MIN: String(LOGIN_ATTEMPTS),
    MAX_MESSAGE_CHARS: String(MAX_MESSAGE_CHARS),
  });
});
afterAll(async () => {
  await app?.cleanup();
});

const HISTORY = `query($id: ID!) { session(id: $id) { messages(first: 50) { totalCount edges { node { id role content } } } } }`;

const codes = (result: GraphQLResponse) => result.errors?.map((error) => error.extensions?.code);
/** The part of an event cursor that is not the log's generation (the whole cursor when it has none). */
const sequenceOf = (cursor: string) => cursor.slice(cursor.lastIndexOf(":") + 1);
const rawId = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;

async function expectServerAnswers(): Promise<void> {
  expect((await graphql(app.graphqlUrl, `{ __typename }`)).data).toEqual({ __typename: "Query" });
}

async function history(sessionId: string, token: string) {
  const result = await graphql(app.graphqlUrl, HISTORY, { id: sessionId }, token);
  expect(result.errors).toBeUndefined();
  return result.data.session.messages;
}

/** A reply in a fresh session of a fresh user, read live and then replayed from `sendMessage.streamCursor`. */
async function freshReply(content: string) {
  const user = await signUp(app.graphqlUrl);
  const sessionId = await createSession(app.graphqlUrl, user.token);
  const client = wsClient(app.wsUrl, user.token);
  try {
    const {
      reply,
      streamCursor,
      events: live,
    } = await sendAndCollectReply(app, user, { sessionId, content }, { client });
    const replayed = await collectReply(client, { sessionId, after: streamCursor }, reply.id);
    return { user, sessionId, replyId: reply.id, streamCursor, live, replayed };
  } finally {
    await client.dispose();
  }
}

const deltasOf = (events: StreamEvent[]) =>
  events
    .filter((event) => event.__typename === "MessageDelta")
    .map((event) => event.delta)
    .join("");

describe("cursors tell a client about its own session only", () => {
  it("event cursors and sendMessage.streamCursor count the session's events, not the platform's", async () => {
    const content = "How do cursors work?";
    const first = await freshReply(content);
    // Platform traffic in between: other users' replies.
    await Promise.all([freshReply("unrelated traffic"), freshReply("more unrelated traffic")]);
    const second = await freshReply(content);
    for (const reply of [first, second]) {
      expect(sequenceOf(reply.streamCursor)).toBe("0");
      expect(reply.live.at(-1)?.__typename).toBe("MessageCompleted");
    }
    // A fresh session's cursors count its own events only, whatever happened elsewhere in between: at most one per
    // token of the reply (the publisher may merge deltas while the bus is busy) and its final event.
    for (const reply of [first, second]) {
      const final = reply.live.at(-1)!;
      const tokens = final.message!.content.split(/\s+/).filter(Boolean).length;
      expect(Number(sequenceOf(final.cursor))).toBeGreaterThanOrEqual(2);
      expect(Number(sequenceOf(final.cursor))).toBeLessThanOrEqual(tokens + 1);
    }
    await expectServerAnswers();
  });

  it("a replay costs a few events per reply, not one per token, and still adds up to the stored text (graphql-ws and SSE)", async () => {
    const { user, sessionId, streamCursor, live, replayed } = await freshReply("Please write a few sentences for me.");
    const stored = live.at(-1)!.message!.content;
    // The reply was published as many deltas (the session's cursors count them: the final event follows the last).
    expect(Number(sequenceOf(live.at(-1)!.cursor)) - Number(sequenceOf(streamCursor))).toBeGreaterThan(10);
    expect(deltasOf(live)).toBe(stored);

    expect(replayed.map((event) => event.__typename)).toEqual(["MessageDelta", "MessageCompleted"]);
    expect(deltasOf(replayed)).toBe(stored);
    // The merged delta carries the cursor of the last delta it holds: resuming from it repeats nothing.
    const lastDelta = live.filter((event) => event.__typename === "MessageDelta").at(-1)!;
    expect(replayed[0]!.cursor).toBe(lastDelta.cursor);

    const sse = await sseSubscribe(app.graphqlUrl, MESSAGE_STREAM, { sessionId, after: streamCursor }, user.token);
    const overSse: StreamEvent[] = [];
    while (overSse.at(-1)?.__typename !== "MessageCompleted") {
      const next = await sse.next();
      if (!next) break;
      overSse.push(next.data.messageStream);
    }
    await sse.close();
    expect(overSse.map((event) => event.__typename)).toEqual(["MessageDelta", "MessageCompleted"]);
    expect(deltasOf(overSse)).toBe(stored);
    await expectServerAnswers();
  });

  it("message connection cursors name the message, not a platform-wide counter; pages go both ways", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const client = wsClient(app.wsUrl, user.token);
    for (let i = 0; i < 3; i++) {
      await sendAndCollectReply(app, user, { sessionId, content: `message ${i}` }, { client });
    }
    await client.dispose();
    const all = (await history(sessionId, user.token)).edges.map((edge: any) => edge.node.id as string);
    expect(all).toHaveLength(6);

    const PAGE = `query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
      session(id: $id) { messages(first: $first, after: $after, last: $last, before: $before) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } } } }`;
    const page = async (variables: Record<string, unknown>) => {
      const result = await graphql(app.graphqlUrl, PAGE, { id: sessionId, ...variables }, user.token);
      expect(result.errors).toBeUndefined();
      return result.data.session.messages;
    };

    const forward: string[] = [];
    let after: string | undefined;
    for (;;) {
      const messages = await page({ first: 4, after });
      forward.push(...messages.edges.map((edge: any) => edge.node.id));
      for (const edge of messages.edges) {
        // Opaque to clients, but what it holds is the message's own id.
        expect(Buffer.from(edge.cursor, "base64").toString()).toContain(rawId(edge.node.id));
      }
      if (!messages.pageInfo.hasNextPage) break;
      after = messages.pageInfo.endCursor;
    }
    expect(forward).toEqual(all);

    const backward: string[][] = [];
    let before: string | undefined;
    for (;;) {
      const messages = await page({ last: 4, before });
      backward.unshift(messages.edges.map((edge: any) => edge.node.id));
      if (!messages.pageInfo.hasPreviousPage) break;
      before = messages.pageInfo.startCursor;
    }
    expect(backward.flat()).toEqual(all);

    // From the middle, both ways.
    const middle = await page({ first: 1, after: (await page({ first: 2 })).pageInfo.endCursor });
    expect(middle.edges.map((edge: any) => edge.node.id)).toEqual([all[2]]);
    const earlier = await page({ last: 2, before: middle.pageInfo.startCursor });
    expect(earlier.edges.map((edge: any) => edge.node.id)).toEqual(all.slice(0, 2));

    // A cursor of the former format (a global position) or a made-up one is bad input, never an internal error.
    for (const bad of [Buffer.from("GPC:I:11").toString("base64"), "not-a-cursor"]) {
      const refused = await graphql(app.graphqlUrl, PAGE, { id: sessionId, first: 2, after: bad }, user.token);
      expect(codes(refused)).toEqual(["BAD_USER_INPUT"]);
      // The same for the sessions connection (its cursors hold ids too).
      const sessions = await graphql(
        app.graphqlUrl,
        `query($after: String) { me { sessions(first: 2, after: $after) { totalCount } } }`,
        { after: bad },
        user.token,
      );
      expect(codes(sessions)).toEqual(["BAD_USER_INPUT"]);
    }

    // Someone else's cursor pages nothing of theirs into another user's session.
    const stranger = await signUp(app.graphqlUrl);
    const strangerSession = await createSession(app.graphqlUrl, stranger.token);
    const foreign = await graphql(
      app.graphqlUrl,
      PAGE,
      { id: strangerSession, first: 10, after: middle.pageInfo.startCursor },
      stranger.token,
    );
    expect(foreign.errors).toBeUndefined();
    expect(foreign.data.session.messages.edges).toEqual([]);
    await expectServerAnswers();
  });
});

describe("MAX_MESSAGE_CHARS bounds what is stored and sent to the model", () => {
  // 200,002 characters, "hi" once trimmed (U+3000 IDEOGRAPHIC SPACE is whitespace to String.prototype.trim).
  const padded = `${"\u3000".repeat(100_000)}hi${"\u3000".repeat(100_000)}`;

  it("refuses 200,000 characters of padding around 'hi' over HTTP, graphql-ws and SSE, storing nothing", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const variables = { input: { sessionId, content: padded } };

    const http = await graphql(app.graphqlUrl, SendMessageDocument, variables, user.token);
    expect(http.data ?? null).toBeNull();
    expect(http.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.content" });

    const client = wsClient(app.wsUrl, user.token);
    const ws = await firstSubscriptionResult(client, { query: SendMessageDocument, variables });
    await client.dispose();
    expect(ws.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.content" });

    const response = await fetch(app.graphqlUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        authorization: `Bearer ${user.token}`,
      },
      body: JSON.stringify({ query: print(SendMessageDocument), variables }),
    });
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const frame = (await response.text()).split("\n").find((line) => line.startsWith("data: {"));
    expect(JSON.parse(frame!.slice("data: ".length)).errors?.[0]?.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.content",
    });

    expect((await history(sessionId, user.token)).totalCount).toBe(0);
    await expectServerAnswers();
  });

  it("counts whitespace like any character, still refuses whitespace alone, and stores what was sent", async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const send = (content: string) =>
      graphql(app.graphqlUrl, SendMessageDocument, { input: { sessionId, content } }, user.token);
    expect(codes(await send(`  hi${" ".repeat(MAX_MESSAGE_CHARS - 3)}`))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await send("\u3000 \n\t"))).toEqual(["BAD_USER_INPUT"]);
    const exact = ` hi${"\u3000".repeat(MAX_MESSAGE_CHARS - 3)}`;
    const accepted = await send(exact);
    expect(accepted.errors).toBeUndefined();
    const stored = (await history(sessionId, user.token)).edges.map((edge: any) => edge.node);
    expect(stored.filter((node: any) => node.role === "USER").map((node: any) => node.content)).toEqual([exact]);
    const client = wsClient(app.wsUrl, user.token);
    await collectReply(
      client,
      { sessionId, after: accepted.data!.sendMessage.streamCursor },
      accepted.data!.sendMessage.reply.id,
    );
    await client.dispose();
  });
});

describe("login guesses cannot lock the owner out", () => {
  const loginFrom = async (address: string, email: string, password: string) => {
    const response = await fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": address },
      body: JSON.stringify({ query: print(LoginDocument), variables: { input: { email, password } } }),
    });
    return { status: response.status, ...((await response.json()) as GraphQLResponse) };
  };
  /** A graphql-ws client whose upgrade request comes through the trusted proxy from `address`. */
  const wsClientFrom = (address: string) =>
    createClient({
      url: app.wsUrl,
      webSocketImpl: class extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { headers: { "x-forwarded-for": address } });
        }
      },
      retryAttempts: 0,
      lazy: true,
    });

  it("a stranger's wrong guesses run out for the stranger; the owner signs in from elsewhere (HTTP and graphql-ws)", async () => {
    const owner = await signUp(app.graphqlUrl);
    const stranger = "203.0.113.66";
    for (let i = 0; i < LOGIN_ATTEMPTS; i++) {
      expect(codes(await loginFrom(stranger, owner.email, `Guess-${i}-Aa1!`))).toEqual(["UNAUTHENTICATED"]);
    }
    // Refused before the password is checked: the right one tells the stranger nothing.
    const locked = await loginFrom(stranger, ` ${owner.email.toUpperCase()}`, owner.password);
    expect(locked.status).toBe(429);
    expect(locked.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "loginEmail" });

    const overHttp = await loginFrom("198.51.100.20", owner.email, owner.password);
    expect(overHttp.errors).toBeUndefined();
    expect(overHttp.data.login.token).toBeTruthy();
    const client = wsClientFrom("198.51.100.21");
    const overWs = await firstSubscriptionResult(client, {
      query: LoginDocument,
      variables: { input: { email: owner.email, password: owner.password } },
    });
    await client.dispose();
    expect(overWs.errors).toBeUndefined();
    expect(overWs.data.login.token).toBeTruthy();
    // The stranger's address stays refused over graphql-ws as well.
    const strangerWs = wsClientFrom(stranger);
    const refused = await firstSubscriptionResult(strangerWs, {
      query: LoginDocument,
      variables: { input: { email: owner.email, password: "Guess-ws-Aa1!" } },
    });
    await strangerWs.dispose();
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", bucket: "loginEmail" });
    await expectServerAnswers();
  });

  it("the owner's own typos are forgotten once the password was right", async () => {
    const owner = await signUp(app.graphqlUrl);
    const home = "198.51.100.30";
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < LOGIN_ATTEMPTS - 1; i++) {
        expect(codes(await loginFrom(home, owner.email, `Typo-${round}-${i}-Aa1!`))).toEqual(["UNAUTHENTICATED"]);
      }
      const signedIn = await loginFrom(home, owner.email, owner.password);
      expect(signedIn.errors).toBeUndefined();
    }
  });
});

describe("ratings: someone else's reply", () => {
  const RATE = `mutation($input: RateMessageInput!) { rateMessage(input: $input) { message { id content feedback { rating comment } } } }`;
  const FEEDBACK = `query($id: ID!) { node(id: $id) { ... on Message { feedback { rating comment } } } }`;

  it("a leaked reply id cannot be rated by anyone else (HTTP, graphql-ws, aliased), and reveals nothing", async () => {
    const victim = await freshReply("A question I keep to myself");
    const stranger = await signUp(app.graphqlUrl);
    const input = { messageId: victim.replyId, rating: "DOWN", comment: "brigading" };

    const overHttp = await graphql(app.graphqlUrl, RATE, { input }, stranger.token);
    expect(codes(overHttp)).toEqual(["NOT_FOUND"]);
    const client = wsClient(app.wsUrl, stranger.token);
    const overWs = await firstSubscriptionResult(client, { query: RATE, variables: { input } });
    await client.dispose();
    expect(codes(overWs)).toEqual(["NOT_FOUND"]);
    const aliases = Array.from({ length: 10 }, (_, i) => `r${i}: rateMessage(input: $input) { message { id } }`).join(
      " ",
    );
    const aliased = await graphql(
      app.graphqlUrl,
      `mutation($input: RateMessageInput!) { ${aliases} }`,
      { input },
      stranger.token,
    );
    // Mutation fields run one after another; the first refusal ends the operation (its payload is non-null).
    expect(codes(aliased)).toEqual(["NOT_FOUND"]);
    expect(aliased.data).toBeNull();
    // The same answer as for an id that names nothing; nothing of the reply comes back.
    const unknown = await graphql(
      app.graphqlUrl,
      RATE,
      { input: { ...input, messageId: Buffer.from(`Message:${randomUUID()}`).toString("base64") } },
      stranger.token,
    );
    expect(overHttp.errors![0]!.message).toBe(unknown.errors![0]!.message);
    for (const result of [overHttp, overWs, aliased])
      expect(JSON.stringify(result)).not.toContain(victim.live.at(-1)!.message!.content);

    const mine = await graphql(app.graphqlUrl, FEEDBACK, { id: victim.replyId }, victim.user.token);
    expect(mine.data.node).toEqual({ feedback: null });
    await expectServerAnswers();
  });
});

describe("/metrics outside development and test", () => {
  let staging: TestApp;
  beforeAll(async () => {
    staging = await startTestApp({ APP_ENV: "staging", JWT_SECRET: randomBytes(48).toString("base64") });
  });
  afterAll(async () => {
    await staging?.cleanup();
  });

  it("is refused without METRICS_TOKEN in staging, and open in test", async () => {
    const refused = await fetch(`${staging.url}/metrics`);
    expect(refused.status).toBe(403);
    const body = await refused.text();
    expect(body).not.toMatch(/# (HELP|TYPE)/);
    expect(body).toContain("METRICS_TOKEN");
    // A made-up token opens nothing either.
    expect(
      (await fetch(`${staging.url}/metrics`, { headers: { authorization: "Bearer anything-at-all-12345" } })).status,
    ).toBe(403);
    expect((await fetch(`${staging.url}/health`)).status).toBe(200);

    const open = await fetch(`${app.url}/metrics`);
    expect(open.status).toBe(200);
    expect(await open.text()).toMatch(/# HELP/);
  });
});

describe("an unset environment fails closed", () => {
  const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
  const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  const STRONG_SECRET = randomBytes(48).toString("base64");
  /** A trusted-documents manifest for the production runs (their working directory has none). */
  const MANIFEST = fileURLToPath(new URL("./support/persisted-documents.fixture.json", import.meta.url));
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  /**
   * Runs src/main.ts like the README's commands do, in an empty directory (no .env files) and with no variables but
   * PATH and `env` (no APP_ENV, no NODE_ENV). Ends once the server is ready (then stopped) or has exited.
   */
  async function runEntry(env: Record<string, string>, args: string[] = []) {
    const cwd = await mkdtemp(join(tmpdir(), "agent-api-entry-"));
    dirs.push(cwd);
    const child = spawn(process.execPath, ["--import", TSX, MAIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", PORT: "0", DATA_DIR: join(cwd, "data"), LOG_PRETTY: "false", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | string>((resolve) =>
      child.once("exit", (code, signal) => resolve(code ?? signal!)),
    );
    const ready = new Promise<string>((resolve) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        lines.push(line);
        if (line.includes('"agent API ready"')) resolve(new URL(JSON.parse(line).url).origin);
      });
    });
    // Neither within the time: killed, so the outcome is that signal (and the test shows stderr).
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    const outcome = await Promise.race([ready.then((url) => ({ url })), exited.then((code) => ({ code }))]);
    clearTimeout(timer);
    const configured = lines.map((line) => JSON.parse(line)).find((record) => record.msg === "configuration loaded");
    return {
      ...outcome,
      stderr,
      appEnv: configured?.appEnv as string | undefined,
      async stop() {
        if (child.exitCode === null) child.kill("SIGTERM");
        await exited;
      },
    };
  }

  // Each starts a Node process (and two of them an embedded database): slow on a busy machine.
  const SLOW = { timeout: 120_000 };

  it("the production command without APP_ENV or secrets refuses to start, naming what is missing", SLOW, async () => {
    const run = await runEntry({});
    await run.stop();
    expect(run).toMatchObject({ code: 1 });
    expect(run.stderr).toMatch(/^Refusing to start with APP_ENV=production; fix these settings:/m);
    expect(run.stderr).toContain("JWT_SECRET");
    expect(run.stderr).toContain("OPENAI_API_KEY");
  });

  it(
    "without the trusted-documents manifest production refuses to start, naming PERSISTED_DOCUMENTS_PATH",
    SLOW,
    async () => {
      const run = await runEntry({ JWT_SECRET: STRONG_SECRET, OPENAI_API_KEY: "sk-test-not-used" });
      await run.stop();
      expect(run).toMatchObject({ code: 1 });
      expect(run.stderr).toMatch(/PERSISTED_DOCUMENTS_PATH: cannot read the trusted-documents manifest/);
    },
  );

  it(
    "with its secrets and manifest set it starts as production: no GraphiQL, no CORS for any origin, trusted documents only",
    SLOW,
    async () => {
      const run = await runEntry({
        JWT_SECRET: STRONG_SECRET,
        OPENAI_API_KEY: "sk-test-not-used",
        PERSISTED_DOCUMENTS_PATH: MANIFEST,
      });
      try {
        expect(run.appEnv).toBe("production");
        expect("url" in run).toBe(true);
        const url = (run as { url: string }).url;
        const page = await fetch(`${url}/graphql`, { headers: { accept: "text/html" } });
        expect(await page.text()).not.toMatch(/graphiql/i);
        const preflight = await fetch(`${url}/graphql`, {
          method: "OPTIONS",
          headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
        });
        expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
        const text = await fetch(`${url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: "{ __typename }" }),
        });
        expect(text.status).toBe(400);
        expect(await text.text()).toContain("PERSISTED_QUERY_ONLY");
        const manifest = JSON.parse(await readFile(MANIFEST, "utf8")) as Record<string, string>;
        const [sha256Hash] = Object.keys(manifest);
        const hashed = await fetch(`${url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash } } }),
        });
        expect(await hashed.json()).toMatchObject({ data: { __typename: "Query" } });
      } finally {
        await run.stop();
      }
    },
  );

  it(
    "npm start and npm run dev ask for development explicitly; APP_ENV in the environment still wins",
    SLOW,
    async () => {
      const { scripts } = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
      for (const name of ["start", "dev"]) expect(scripts[name]).toMatch(/ --default-app-env=development\b/);
      expect(scripts["start:prod"]).not.toContain("--default-app-env");

      const development = await runEntry({}, ["--default-app-env=development"]);
      await development.stop();
      expect(development.appEnv).toBe("development");
      expect("url" in development).toBe(true);

      const overridden = await runEntry({ APP_ENV: "production" }, ["--default-app-env=development"]);
      await overridden.stop();
      expect(overridden).toMatchObject({ code: 1 });
      expect(overridden.stderr).toMatch(/APP_ENV=production/);
    },
  );
});
