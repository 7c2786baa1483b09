// Admission control: at most REPLIES_MAX_RUNNING replies run at once on an instance, REPLIES_MAX_QUEUED wait for a
// slot (told so by MessageQueued), and a send beyond both is OVERLOADED with a time to retry, storing nothing.
import { randomUUID } from "node:crypto";
import { print } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SendMessageDocument, SessionMessageCountDocument } from "./generated/graphql.ts";
import { collectReply, createSession, graphql, signUp, wsClient } from "./support/clients.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fake-openai.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

let fake: FakeOpenAI;
let app: TestApp;
beforeAll(async () => {
  fake = await startFakeOpenAI();
  app = await startTestApp({
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.baseUrl,
    LLM_MODEL: "admission-model",
    REPLIES_MAX_RUNNING: "1",
    REPLIES_MAX_QUEUED: "1",
  });
});
afterAll(async () => {
  await app?.cleanup();
  await fake?.close();
});

describe("admission control", () => {
  it("runs one, queues one (MessageQueued, then the whole reply), refuses the third with OVERLOADED and stores nothing", async () => {
    const chats = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const user = await signUp(app.graphqlUrl);
        const sessionId = await createSession(app.graphqlUrl, user.token);
        const marker = `chat ${i} ${randomUUID()}`;
        fake.planFor(marker, [
          { kind: "reply", tokens: Array.from({ length: 8 }, (_, t) => `w${t} `), tokenDelayMs: 50 },
        ]);
        return { user, sessionId, marker };
      }),
    );
    const send = ({ user, sessionId, marker }: (typeof chats)[number]) =>
      graphql(app.graphqlUrl, SendMessageDocument, { input: { sessionId, content: marker } }, user.token);
    const running = await send(chats[0]!);
    const queued = await send(chats[1]!);
    expect(running.errors).toBeUndefined();
    expect(queued.errors).toBeUndefined();

    const response = await fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${chats[2]!.user.token}` },
      body: JSON.stringify({
        query: print(SendMessageDocument),
        variables: { input: { sessionId: chats[2]!.sessionId, content: chats[2]!.marker } },
      }),
    });
    expect(response.status).toBe(503);
    const retryAfter = Number(response.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    const refused = (await response.json()) as {
      data: unknown;
      errors: Array<{ extensions: Record<string, unknown> }>;
    };
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors[0]!.extensions).toMatchObject({ code: "OVERLOADED", retryAfter });
    const stored = await graphql(
      app.graphqlUrl,
      SessionMessageCountDocument,
      { id: chats[2]!.sessionId },
      chats[2]!.user.token,
    );
    expect(stored.data!.session!.messages.totalCount).toBe(0);

    // The queued reply says so first, then streams in full once the first one has finished.
    const client = wsClient(app.wsUrl, chats[1]!.user.token);
    const events = await collectReply(
      client,
      { sessionId: chats[1]!.sessionId, after: queued.data!.sendMessage.streamCursor },
      queued.data!.sendMessage.reply.id,
    );
    await client.dispose();
    expect(events[0]).toMatchObject({ __typename: "MessageQueued" });
    expect(events.at(-1)).toMatchObject({ __typename: "MessageCompleted" });
    expect(
      events
        .filter((e) => e.__typename === "MessageDelta")
        .map((e) => e.delta)
        .join(""),
    ).toBe(events.at(-1)!.message!.content);

    // Room again: the refused chat sends now.
    await app.memories.idle();
    expect((await send(chats[2]!)).errors).toBeUndefined();
  });
});
