// `npm run bench`: numbers, not assertions. Starts the app on embedded defaults (or DATABASE_URL) in a temp dir
// and measures start-up, auth, and reply streaming under concurrency with the offline dev model.
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { startTestApp } from "../test/support/test-app.ts";
import { collectReply, createSession, graphql, signUp, wsClient } from "../test/support/clients.ts";

const CONCURRENT_REPLIES = Number(process.env.BENCH_REPLIES ?? 20);
const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } streamCursor } }`;

function summary(label: string, samples: number[]): void {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
  console.log(
    `${label.padEnd(34)} n=${String(samples.length).padStart(3)}  p50=${at(0.5)} ms  p95=${at(0.95)} ms  max=${at(1)} ms`,
  );
}

const startedAt = performance.now();
// Production argon2 cost, the real dev-model pace.
const app = await startTestApp({ ARGON2_MEMORY_KIB: "65536", ARGON2_TIME_COST: "3", DEV_MODEL_TOKEN_DELAY_MS: "15" });
console.log(`start-up (fresh ${app.database} database, migrations)  ${(performance.now() - startedAt).toFixed(0)} ms`);

const registerTimes: number[] = [];
const users = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  users.push(await signUp(app.graphqlUrl));
  registerTimes.push(performance.now() - t);
}
summary("register (argon2id 64 MiB, t=3)", registerTimes);

// Login must not tell whether an email is registered, by its answer or by its time.
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { token } }`;
const wrongPassword: number[] = [];
const unknownEmail: number[] = [];
for (let i = 0; i < 20; i++) {
  for (const [samples, email] of [
    [wrongPassword, users[i % users.length]!.email],
    [unknownEmail, `nobody-${i}@example.com`],
  ] as const) {
    const t = performance.now();
    const result = await graphql(app.graphqlUrl, LOGIN, { input: { email, password: "Wrong-password-1!" } });
    if (result.errors?.[0]?.extensions?.code !== "UNAUTHENTICATED") throw new Error(JSON.stringify(result.errors));
    samples.push(performance.now() - t);
  }
}
summary("login, registered email, wrong pw", wrongPassword);
summary("login, unknown email", unknownEmail);

const user = users[0]!;
const sessionId = await createSession(app.graphqlUrl, user.token);
const readTimes: number[] = [];
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  await graphql(app.graphqlUrl, `{ me { sessions(first: 10) { edges { node { id name } } } } }`, {}, user.token);
  readTimes.push(performance.now() - t);
}
summary("query me.sessions", readTimes);

const refreshTimes: number[] = [];
let refreshToken = user.refreshToken;
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  const result = await graphql(
    app.graphqlUrl,
    `mutation($input: RefreshTokenInput!) { refreshToken(input: $input) { refreshToken } }`,
    {
      input: { refreshToken },
    },
  );
  refreshToken = result.data.refreshToken.refreshToken;
  refreshTimes.push(performance.now() - t);
}
summary("refreshToken (rotation)", refreshTimes);

const client = wsClient(app.wsUrl, user.token);
const fullReply: number[] = [];
const memoryBefore = process.memoryUsage().rss;
// One reply at a time per session (SESSION_BUSY otherwise): the concurrent replies each get their own session.
const sessionIds = [
  sessionId,
  ...(await Promise.all(
    Array.from({ length: CONCURRENT_REPLIES - 1 }, () => createSession(app.graphqlUrl, user.token)),
  )),
];
await Promise.all(
  sessionIds.map(async (sessionId, i) => {
    await sleep(i * 5);
    const t = performance.now();
    const sent = await graphql(app.graphqlUrl, SEND, { input: { sessionId, content: `bench ${i}` } }, user.token);
    const { reply, streamCursor } = sent.data.sendMessage;
    const events = await collectReply(client, { sessionId, after: streamCursor }, reply.id, 60_000);
    if (events.at(-1)?.__typename !== "MessageCompleted") throw new Error(`reply ${i} did not complete`);
    fullReply.push(performance.now() - t);
  }),
);
summary(`${CONCURRENT_REPLIES} concurrent replies: full reply`, fullReply);
const metrics = await (await fetch(`${app.url}/metrics`)).text();
const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1]);
const ttft = metric("agent_time_to_first_token_seconds_sum") / metric("agent_time_to_first_token_seconds_count");
console.log(`time to first token (mean, server)  ${(ttft * 1000).toFixed(1)} ms`);
console.log(
  `rss after replies                  ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (before ${(memoryBefore / 2 ** 20).toFixed(0)} MiB)`,
);
await client.dispose();
await app.cleanup();
