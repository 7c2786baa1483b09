// Graceful shutdown and readiness of a real process (as `npm start` runs it): SIGTERM while a reply streams.
import { once } from "node:events";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { createClient, type Client } from "graphql-ws";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createSession, graphql, MESSAGE_STREAM, signUp, type StreamEvent } from "./support/clients.ts";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";
import { buildTestApp, startTestApp, testEnvironment } from "./support/test-app.ts";

const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } streamCursor } }`;
const HISTORY = `query($id: ID!) { session(id: $id) { messages(last: 2) { edges { node { status errorCode content } } } } }`;

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function start(overrides: Record<string, string>): Promise<ServerProcess & { env: Record<string, string> }> {
  const environment = await testEnvironment(overrides);
  cleanups.push(environment.cleanup);
  return { ...(await restart(environment.env)), env: environment.env };
}

/** Another process on the same data. */
async function restart(env: Record<string, string>): Promise<ServerProcess> {
  const server = await startServerProcess(env);
  cleanups.push(async () => server.child.kill("SIGKILL"));
  return server;
}

/** A graphql-ws client that records how its socket was closed. */
function recordingClient(url: string, token: string) {
  const closes: Array<{ code: number; reason: string }> = [];
  const client: Client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
    on: {
      closed: (event) => void closes.push({ code: (event as CloseEvent).code, reason: (event as CloseEvent).reason }),
    },
  });
  return { client, closes };
}

/** Starts a reply and streams its events into `events`; resolves once `deltas` deltas arrived. */
async function streamingReply(server: ServerProcess, deltas: number) {
  const graphqlUrl = `${server.url}/graphql`;
  const user = await signUp(graphqlUrl);
  const sessionId = await createSession(graphqlUrl, user.token);
  const { client, closes } = recordingClient(graphqlUrl.replace("http", "ws"), user.token);
  const sent = await graphql(
    graphqlUrl,
    SEND,
    { input: { sessionId, content: "Tell me something long." } },
    user.token,
  );
  const replyId: string = sent.data.sendMessage.reply.id;
  const events: StreamEvent[] = [];
  let finished!: () => void;
  const final = new Promise<void>((resolve) => (finished = resolve));
  await new Promise<void>((resolve, reject) => {
    client.subscribe<{ messageStream: StreamEvent }>(
      { query: MESSAGE_STREAM, variables: { sessionId, after: sent.data.sendMessage.streamCursor } },
      {
        next: ({ data }) => {
          const event = data?.messageStream;
          if (!event || event.messageId !== replyId) return;
          events.push(event);
          if (events.length === deltas) resolve();
          if (event.__typename !== "MessageDelta") finished();
        },
        error: reject,
        complete: () => finished(),
      },
    );
  });
  return { user, sessionId, client, closes, events, final };
}

describe("SIGTERM while a reply streams", () => {
  it("stops taking work at once (/ready 503, new requests and WebSockets refused), cuts the reply off after the " +
    "grace period with a final event, closes sockets with 1001 and exits 0", { timeout: 120_000 }, async () => {
    // ~40 words at 100 ms each: the reply needs ~4 s, the grace period is 1 s.
    const server = await start({ DEV_MODEL_TOKEN_DELAY_MS: "100", SHUTDOWN_GRACE_MS: "1000" });
    // Redis is checked too when the suite runs with TEST_REDIS_URL.
    expect(await (await fetch(`${server.url}/ready`)).json()).toMatchObject({
      status: "ready",
      checks: { database: "ok" },
    });
    const reply = await streamingReply(server, 3);

    const signalledAt = performance.now();
    server.child.kill("SIGTERM");
    // Draining: alive, not ready, no new work, no new sockets.
    await expect
      .poll(async () => (await fetch(`${server.url}/ready`)).status, { interval: 20, timeout: 500 })
      .toBe(503);
    expect(await (await fetch(`${server.url}/ready`)).json()).toEqual({ status: "draining" });
    expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: "ok", draining: true });
    const refused = await graphql(`${server.url}/graphql`, "{ __typename }");
    expect(refused.status).toBe(503);
    expect(refused.errors?.[0]?.extensions?.code).toBe("SHUTTING_DOWN");
    const upgrade = await new Promise<number>((resolve) => {
      const socket = new WebSocket(`${server.url.replace("http", "ws")}/graphql`, "graphql-transport-ws");
      socket.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      socket.on("open", () => resolve(101));
      socket.on("error", () => undefined);
    });
    expect(upgrade).toBe(503);

    await reply.final;
    const final = reply.events.at(-1)!;
    expect(final).toMatchObject({ __typename: "MessageFailed", code: "INTERRUPTED" });
    expect(reply.events.slice(0, -1).every((event) => event.__typename === "MessageDelta")).toBe(true);
    expect(await server.exited).toBe(0);
    const shutdownMs = performance.now() - signalledAt;
    await expect.poll(() => reply.closes).toEqual([{ code: 1001, reason: "Server shutting down" }]);
    // The grace period, the final event's flush and the closing of connections; well under the 15 s overrun.
    expect(shutdownMs).toBeGreaterThan(1_000);
    expect(shutdownMs).toBeLessThan(5_000);
    console.info(`shutdown with a reply cut off after a 1 s grace: ${Math.round(shutdownMs)} ms`);
    const stopped = server.lines.map((line) => JSON.parse(line)).find((line) => line.msg === "stopped");
    expect(stopped.durationMs).toBeLessThan(5_000);

    // The stored reply says the same as the final event, and keeps the text streamed before the cut.
    const restarted = await restart(server.env);
    const history = await graphql(`${restarted.url}/graphql`, HISTORY, { id: reply.sessionId }, reply.user.token);
    const stored = history.data.session.messages.edges.at(-1).node;
    expect(stored).toMatchObject({ status: "INTERRUPTED", errorCode: "INTERRUPTED" });
    expect(stored.content.length).toBeGreaterThan(0);
    restarted.child.kill("SIGTERM");
    expect(await restarted.exited).toBe(0);
  });

  it("lets a reply that fits in the grace period finish, then exits 0", { timeout: 120_000 }, async () => {
    // ~40 words at 40 ms: ~1.6 s of reply, 10 s of grace.
    const server = await start({ DEV_MODEL_TOKEN_DELAY_MS: "40", SHUTDOWN_GRACE_MS: "10000" });
    const reply = await streamingReply(server, 2);
    const signalledAt = performance.now();
    server.child.kill("SIGTERM");
    await reply.final;
    expect(reply.events.at(-1)).toMatchObject({ __typename: "MessageCompleted", message: { status: "COMPLETE" } });
    expect(reply.events.at(-1)!.message!.content).toBe(
      reply.events
        .filter((event) => event.__typename === "MessageDelta")
        .map((event) => event.delta)
        .join(""),
    );
    expect(await server.exited).toBe(0);
    const shutdownMs = performance.now() - signalledAt;
    console.info(`shutdown waiting for a reply to finish: ${Math.round(shutdownMs)} ms`);
    expect(shutdownMs).toBeLessThan(10_000);
  });
});

describe("an app built in process", () => {
  it("serves through yoga.fetch without a port, stops without having listened, once, and cannot start after", async () => {
    const app = await buildTestApp();
    cleanups.push(app.cleanup);
    const response = await app.fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(((await response.json()) as { data: unknown }).data).toEqual({ __typename: "Query" });
    const stopped = app.stop({ graceMs: 1000 });
    expect(app.stop()).toBe(stopped);
    await stopped;
    await expect(app.start()).rejects.toThrow(/stopping/);
  });
});

const redisUrl = new URL(process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379");
/** The /ready test needs a Redis server to cut off; this machine (and CI) runs one. */
const redisUp = await new Promise<boolean>((resolve) => {
  const probe = connect(Number(redisUrl.port || 6379), redisUrl.hostname);
  probe.once("connect", () => resolve(true)).once("error", () => resolve(false));
  probe.setTimeout(1_000, () => resolve(false));
  probe.once("close", () => resolve(false));
  setTimeout(() => probe.destroy(), 1_500).unref();
}).then((up) => up);

describe("/ready", () => {
  /** A TCP relay to Redis that the test can cut, as a network partition would. */
  async function relayTo(target: URL) {
    const sockets = new Set<Socket>();
    let open = true;
    const server = createServer((client) => {
      if (!open) return void client.destroy();
      const upstream = connect(Number(target.port || 6379), target.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("error", () => undefined).on("close", () => sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return {
      url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
      cut: () => {
        open = false;
        for (const socket of sockets) socket.destroy();
      },
      heal: () => {
        open = true;
      },
      close: () => new Promise((resolve) => server.close(resolve)),
    };
  }

  it.skipIf(!redisUp)(
    "answers 503 naming Redis when it is unreachable, and ready again once it is back",
    { timeout: 60_000 },
    async () => {
      const relay = await relayTo(redisUrl);
      cleanups.push(relay.close);
      const app = await startTestApp({ REDIS_URL: relay.url });
      cleanups.push(app.cleanup);
      const ready = async () => {
        const response = await fetch(`${app.url}/ready`);
        return { status: response.status, body: await response.json() };
      };
      expect(await ready()).toEqual({
        status: 200,
        body: { status: "ready", checks: { database: "ok", redis: "ok" } },
      });

      relay.cut();
      const down = await ready();
      expect(down.status).toBe(503);
      expect(down.body.status).toBe("unavailable");
      expect(down.body.checks.database).toBe("ok");
      expect(["failed", "timeout"]).toContain(down.body.checks.redis);
      expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^app_dependency_up\{dependency="redis"\} 0$/m);

      relay.heal();
      await expect.poll(async () => (await ready()).status, { interval: 250, timeout: 20_000 }).toBe(200);
    },
  );
});
