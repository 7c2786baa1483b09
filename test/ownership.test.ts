// The last line of defence: even when a resolver hands over someone else's row (a bug, or a future field that
// forgets to filter), the type-level scope-auth check refuses it with the same answer as an unknown id.
import { execute, parse } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { schema } from "../src/api/schema/index.ts";
import type { GraphQLContext } from "../src/api/context.ts";
import { loadConfig } from "../src/config/index.ts";
import { openDatabase, type Database } from "../src/persistence/database.ts";
import { testEnvironment } from "./support/test-app.ts";

let database: Database;
let cleanup: () => Promise<void>;
let owner: { userId: string; sessionId: string; messageId: string };
let stranger: string;

beforeAll(async () => {
  const environment = await testEnvironment();
  cleanup = environment.cleanup;
  const config = loadConfig(environment.env);
  database = await openDatabase({ ...config.database, dataDir: config.dataDir });
  const { prisma } = database;
  const user = await prisma.user.create({ data: { email: `owner-${Date.now()}@example.com`, passwordHash: "x" } });
  const session = await prisma.session.create({ data: { userId: user.id, name: "private" } });
  const message = await prisma.message.create({ data: { sessionId: session.id, role: "USER", content: "secret" } });
  owner = { userId: user.id, sessionId: session.id, messageId: message.id };
  stranger = (await prisma.user.create({ data: { email: `stranger-${Date.now()}@example.com`, passwordHash: "x" } }))
    .id;
});
afterAll(async () => {
  await database?.close();
  await cleanup?.();
});

const contextFor = (userId: string) =>
  ({
    viewer: { userId, credentialId: "test", expiresAt: new Date(Date.now() + 60_000) },
    prisma: database.prisma,
    services: {},
  }) as unknown as GraphQLContext;

// `MessageCompleted.message` loads the message named by the event without any filter of its own; only the
// type check stands between a leaked event and someone else's message.
const leakedEvent = () => ({ type: "completed", messageId: owner.messageId, cursor: "1" });
const COMPLETED = parse(`subscription($id: ID!) {
  messageStream(sessionId: $id) { ... on MessageCompleted { message { content } } }
}`);
const COMPLETED_WITH_SESSION = parse(`subscription($id: ID!) {
  messageStream(sessionId: $id) { ... on MessageCompleted { message { content session { name } } } }
}`);
const sessionGlobalId = () => Buffer.from(`Session:${owner.sessionId}`).toString("base64");

describe("type-level ownership (Pothos scope-auth)", () => {
  it("refuses another user's Message with NOT_FOUND even when a resolver returns it", async () => {
    const result = await execute({
      schema,
      document: COMPLETED,
      rootValue: leakedEvent(),
      contextValue: contextFor(stranger),
      variableValues: { id: sessionGlobalId() },
    });
    expect(JSON.stringify(result.data ?? {})).not.toContain("secret");
    expect(result.errors?.map((error) => error.extensions.code)).toEqual(["NOT_FOUND"]);
  });

  it("lets the owner read the same object through the same path", async () => {
    const result = await execute({
      schema,
      document: COMPLETED_WITH_SESSION,
      rootValue: leakedEvent(),
      contextValue: contextFor(owner.userId),
      variableValues: { id: sessionGlobalId() },
    });
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ messageStream: { message: { content: "secret", session: { name: "private" } } } });
  });
});
