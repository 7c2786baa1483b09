// Several real server processes on one PostgreSQL database and one Redis (TEST_DATABASE_URL and TEST_REDIS_URL), as
// behind a load balancer: replies are owned by the instance that runs them (a lease), survive other instances
// starting and restarting, are recovered within the lease when their owner is killed, can be cancelled from any
// instance, and resume exactly on another instance. Instances start reliably with Redis.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSession,
  graphql,
  MESSAGE_STREAM,
  signUp,
  wsClient,
  type SignedUpUser,
  type StreamEvent,
} from "./support/clients.ts";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";
import { testEnvironment } from "./support/test-app.ts";

const enabled = Boolean(process.env.TEST_DATABASE_URL && process.env.TEST_REDIS_URL);
const LEASE_MS = 3000;
/** What the sweep adds to the lease at worst (it runs every lease/5), plus the event's trip to the subscriber. */
const RECOVERY_SLACK_MS = LEASE_MS / 5 + 500;
const SLOW = { timeout: 120_000 };

const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } streamCursor } }`;
const CANCEL = `mutation($input: CancelGenerationInput!) { cancelGeneration(input: $input) { cancelledReplies } }`;
const REPLY = `query($id: ID!) { node(id: $id) { ... on Message { id status content errorCode streamCursor } } }`;
const ACTIVE = `query($id: ID!) { session(id: $id) { activeReply { id status streamCursor } } }`;
/** Long enough (70 words of the dev model) to outlive instances starting and stopping around it. */
const LONG = `please answer at length ${"and keep going ".repeat(12)}`;

/** A graphql-ws subscription that records every event as it comes; `until` waits for a condition on them. */
function follow(server: ServerProcess, user: SignedUpUser, sessionId: string, after?: string) {
  const client = wsClient(`${server.url.replace("http", "ws")}/graphql`, user.token);
  const events: StreamEvent[] = [];
  const waiters = new Set<() => void>();
  let failure: unknown;
  client.subscribe<{ messageStream: StreamEvent }>(
    { query: MESSAGE_STREAM, variables: { sessionId, ...(after ? { after } : {}) } },
    {
      next: (result) => {
        if (result.data) events.push(result.data.messageStream);
        for (const wake of waiters) wake();
      },
      error: (error) => (failure = error),
      complete: () => undefined,
    },
  );
  return {
    events,
    async until(done: (events: StreamEvent[]) => boolean, timeoutMs = 30_000): Promise<StreamEvent[]> {
      const deadline = Date.now() + timeoutMs;
      while (!done(events)) {
        if (failure) throw new Error(`subscription failed: ${JSON.stringify(failure)}`);
        if (Date.now() > deadline)
          throw new Error(`timed out; events so far: ${events.map((e) => e.__typename).join(", ")}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
          setTimeout(wake, 100);
        });
      }
      return events;
    },
    dispose: () => client.dispose(),
  };
}

const deltas = (events: StreamEvent[]) => events.filter((e) => e.__typename === "MessageDelta").length;
const ended = (events: StreamEvent[]) =>
  events.some((e) => ["MessageCompleted", "MessageFailed", "MessageCancelled"].includes(e.__typename));
/** The text a client holds after these events: a snapshot replaces it, a restart empties it, deltas append. */
function textOf(events: StreamEvent[]): string {
  let text = "";
  for (const event of events) {
    if (event.__typename === "MessageSnapshot") text = event.content!;
    else if (event.__typename === "MessageRestarted") text = "";
    else if (event.__typename === "MessageDelta") text += event.delta;
  }
  return text;
}

describe.skipIf(!enabled)("several instances on one PostgreSQL and one Redis", () => {
  let env: Record<string, string>;
  let cleanupEnvironment: () => Promise<void>;
  const servers = new Set<ServerProcess>();

  async function start(extra: Record<string, string> = {}): Promise<ServerProcess> {
    const server = await startServerProcess({ ...env, ...extra });
    servers.add(server);
    void server.exited.then(() => servers.delete(server));
    return server;
  }
  async function stop(server: ServerProcess, signal: NodeJS.Signals = "SIGTERM") {
    server.child.kill(signal);
    await server.exited;
  }
  const url = (server: ServerProcess) => `${server.url}/graphql`;
  /** A new user with a new session, signed up on `server`. */
  async function newChat(server: ServerProcess) {
    const user = await signUp(url(server));
    return { user, sessionId: await createSession(url(server), user.token) };
  }

  async function database<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    const environment = await testEnvironment({
      REPLY_LEASE_MS: String(LEASE_MS),
      DEV_MODEL_TOKEN_DELAY_MS: "150",
      // Small, so a resubscription that waited long enough finds its cursor no longer retained.
      REPLY_EVENT_RETENTION: "8",
    });
    env = environment.env;
    cleanupEnvironment = environment.cleanup;
  });
  afterAll(async () => {
    await Promise.all([...servers].map((server) => stop(server, "SIGKILL")));
    await cleanupEnvironment?.();
  });

  it("starting with Redis is reliable: eight instances started two at a time all stay up", SLOW, async () => {
    for (let round = 0; round < 4; round++) {
      const pair = await Promise.all([start(), start()]);
      // The crash this guards against came right after "agent API ready" (a subscribe racing ioredis's ready check).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      for (const server of pair) {
        expect(server.child.exitCode).toBeNull();
        expect(server.lines.join("\n")).not.toMatch(/subscriber mode|uncaught/i);
      }
      await Promise.all(pair.map((server) => stop(server)));
    }
  });

  it(
    "a reply on A survives B starting and C restarting; meanwhile its session is SESSION_BUSY with the reply's global id",
    SLOW,
    async () => {
      const a = await start({ DEV_MODEL_TOKEN_DELAY_MS: "300" });
      const c = await start();
      const { user, sessionId } = await newChat(a);
      const watch = follow(a, user, sessionId);
      const sent = await graphql(url(a), SEND, { input: { sessionId, content: LONG } }, user.token);
      const replyId = sent.data.sendMessage.reply.id;
      await watch.until((events) => deltas(events) >= 1);

      const b = await start();
      await stop(c);
      const c2 = await start();
      const busy = await graphql(url(b), SEND, { input: { sessionId, content: "me too" } }, user.token);
      expect(busy.errors?.[0]?.extensions).toMatchObject({ code: "SESSION_BUSY", replyId });
      expect(ended(watch.events)).toBe(false); // still streaming after all that

      const events = await watch.until(ended, 60_000);
      await watch.dispose();
      expect(events.at(-1)).toMatchObject({ __typename: "MessageCompleted", message: { status: "COMPLETE" } });
      const stored = (await graphql(url(c2), REPLY, { id: replyId }, user.token)).data.node;
      expect(stored).toMatchObject({ status: "COMPLETE", errorCode: null, content: textOf(events) });
      const interrupted = await database((client) =>
        client.query(`SELECT count(*)::int AS n FROM "Message" WHERE "status" = 'INTERRUPTED'`),
      );
      expect(interrupted.rows[0].n).toBe(0);
      await Promise.all([a, b, c2].map((server) => stop(server)));
    },
  );

  it(
    "when the owner is killed mid-reply, another instance ends it INTERRUPTED within the lease with the text streamed",
    SLOW,
    async () => {
      const [a, b] = await Promise.all([start(), start()]);
      const { user, sessionId } = await newChat(b);
      const watch = follow(b, user, sessionId);
      const sent = await graphql(url(a), SEND, { input: { sessionId, content: LONG } }, user.token);
      const replyId = sent.data.sendMessage.reply.id;
      await watch.until((events) => deltas(events) >= 3);

      await stop(a, "SIGKILL");
      const killedAt = Date.now();
      const events = await watch.until(ended, LEASE_MS + RECOVERY_SLACK_MS + 5000);
      const recoveredAfterMs = Date.now() - killedAt;
      await watch.dispose();
      expect(events.at(-1)).toMatchObject({ __typename: "MessageFailed", code: "INTERRUPTED" });
      expect(recoveredAfterMs).toBeLessThanOrEqual(LEASE_MS + RECOVERY_SLACK_MS);
      console.info(
        `owner killed: MessageFailed INTERRUPTED reached B ${recoveredAfterMs} ms later (REPLY_LEASE_MS ${LEASE_MS})`,
      );
      const stored = (await graphql(url(b), REPLY, { id: replyId }, user.token)).data.node;
      expect(stored).toMatchObject({ status: "INTERRUPTED", errorCode: "INTERRUPTED" });
      expect(stored.content).toBe(textOf(events));
      expect(stored.content.length).toBeGreaterThan(0);

      const next = await graphql(url(b), SEND, { input: { sessionId, content: "are you back?" } }, user.token);
      expect(next.errors).toBeUndefined();
      await stop(b);
    },
  );

  it("cancelGeneration sent to B stops a reply running on A within a second", SLOW, async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const { user, sessionId } = await newChat(a);
    const watch = follow(a, user, sessionId);
    const sent = await graphql(url(a), SEND, { input: { sessionId, content: LONG } }, user.token);
    await watch.until((events) => deltas(events) >= 1);
    const cancelledAt = Date.now();
    const cancelled = await graphql(url(b), CANCEL, { input: { sessionId } }, user.token);
    expect(cancelled.data.cancelGeneration.cancelledReplies).toBe(1);
    const events = await watch.until(ended, 5000);
    const cancelMs = Date.now() - cancelledAt;
    expect(cancelMs).toBeLessThan(1000);
    console.info(`cancelGeneration on B: MessageCancelled from A ${cancelMs} ms later`);
    await watch.dispose();
    expect(events.at(-1)).toMatchObject({ __typename: "MessageCancelled", message: { status: "CANCELLED" } });
    const stored = (await graphql(url(b), REPLY, { id: sent.data.sendMessage.reply.id }, user.token)).data.node;
    expect(stored.content).toBe(textOf(events));
    await Promise.all([a, b].map((server) => stop(server)));
  });

  it(
    "a subscriber cut off on A resumes on B from its last cursor: replayed, or a snapshot once the cursor is too old; exact either way",
    SLOW,
    async () => {
      const [a, b] = await Promise.all([start(), start()]);
      const { user, sessionId } = await newChat(a);
      for (const wait of ["briefly", "past the retained events"] as const) {
        const first = follow(a, user, sessionId);
        const sent = await graphql(url(a), SEND, { input: { sessionId, content: `${wait} ${LONG}` } }, user.token);
        const replyId = sent.data.sendMessage.reply.id;
        const mine = (events: StreamEvent[]) => events.filter((event) => event.messageId === replyId);
        await first.until((events) => deltas(mine(events)) >= 2);
        await first.dispose(); // the socket drops
        const before = mine(first.events);
        if (wait === "past the retained events") {
          // Another client watches the reply go on for more events than the server keeps (REPLY_EVENT_RETENTION 8).
          const witness = follow(b, user, sessionId, before.at(-1)!.cursor);
          await witness.until((events) => deltas(mine(events)) >= 12 || ended(mine(events)));
          await witness.dispose();
        }
        const resumed = follow(b, user, sessionId, before.at(-1)!.cursor);
        const after = mine(await resumed.until((events) => ended(mine(events)), 60_000));
        await resumed.dispose();
        expect(after[0]!.__typename).toBe(wait === "briefly" ? "MessageDelta" : "MessageSnapshot");
        const stored = (await graphql(url(b), REPLY, { id: replyId }, user.token)).data.node;
        expect(stored.status).toBe("COMPLETE");
        expect(textOf([...before, ...after])).toBe(stored.content);
        // No event twice: cursors strictly increase across the cut.
        const seqs = [...before, ...after].map((event) => Number(event.cursor.split(":").at(-1)));
        expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
        expect(new Set(seqs).size).toBe(seqs.length);
      }
      await Promise.all([a, b].map((server) => stop(server)));
    },
  );

  it(
    "a client that reloads finds the running reply in Session.activeReply on any instance and rejoins it from its start",
    SLOW,
    async () => {
      const [a, b] = await Promise.all([start(), start()]);
      const { user, sessionId } = await newChat(a);
      const sent = await graphql(url(a), SEND, { input: { sessionId, content: LONG } }, user.token);
      const replyId = sent.data.sendMessage.reply.id;
      const { activeReply } = (await graphql(url(b), ACTIVE, { id: sessionId }, user.token)).data.session;
      expect(activeReply).toMatchObject({
        id: replyId,
        status: "STREAMING",
        streamCursor: sent.data.sendMessage.streamCursor,
      });
      const rejoined = follow(b, user, sessionId, activeReply.streamCursor);
      const events = await rejoined.until(ended, 60_000);
      await rejoined.dispose();
      const stored = (await graphql(url(b), REPLY, { id: replyId }, user.token)).data.node;
      expect(textOf(events)).toBe(stored.content);
      expect((await graphql(url(b), ACTIVE, { id: sessionId }, user.token)).data.session.activeReply).toBeNull();
      await Promise.all([a, b].map((server) => stop(server)));
    },
  );
});
