// The daily model-token quota: charged per reply, shown as data, enforced before anything is stored.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MyUsageDocument, SendMessageDocument, SessionMessageCountDocument } from "./generated/graphql.ts";
import { createSession, graphql, sendAndCollectReply, signUp } from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

const DAILY_LIMIT = 100;
const REPLY_TOKENS = `query($id: ID!) { node(id: $id) { ... on Message { inputTokens outputTokens } } }`;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ LLM_DAILY_TOKEN_LIMIT: String(DAILY_LIMIT) });
});
afterAll(async () => {
  await app?.cleanup();
});

describe("daily token quota", () => {
  it("charges each reply's tokens, then refuses sendMessage with QUOTA_EXCEEDED and stores nothing", {
    timeout: 30_000,
  }, async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const fresh = await graphql(app.graphqlUrl, MyUsageDocument, {}, user.token);
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    expect(fresh.data?.me?.usage).toEqual({
      tokensUsed: 0,
      tokenLimit: DAILY_LIMIT,
      tokensRemaining: DAILY_LIMIT,
      resetsAt: midnight.toISOString(),
    });

    let charged = 0;
    while (charged < DAILY_LIMIT) {
      const { reply } = await sendAndCollectReply(app, user, { sessionId, content: "count me" });
      const tokens = (await graphql(app.graphqlUrl, REPLY_TOKENS, { id: reply.id }, user.token)).data.node;
      expect(tokens.inputTokens).toBeGreaterThan(0);
      expect(tokens.outputTokens).toBeGreaterThan(0);
      charged += tokens.inputTokens + tokens.outputTokens;
      const usage = (await graphql(app.graphqlUrl, MyUsageDocument, {}, user.token)).data!.me!.usage;
      expect(usage.tokensUsed).toBe(charged);
      expect(usage.tokensRemaining).toBe(Math.max(0, DAILY_LIMIT - charged));
    }

    const before = (await graphql(app.graphqlUrl, SessionMessageCountDocument, { id: sessionId }, user.token)).data!
      .session!.messages.totalCount;
    const refused = await graphql(
      app.graphqlUrl,
      SendMessageDocument,
      { input: { sessionId, content: "one more" } },
      user.token,
    );
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: "QUOTA_EXCEEDED",
      tokensUsed: charged,
      tokenLimit: DAILY_LIMIT,
      resetsAt: midnight.toISOString(),
    });
    const after = (await graphql(app.graphqlUrl, SessionMessageCountDocument, { id: sessionId }, user.token)).data!
      .session!.messages.totalCount;
    expect(after).toBe(before);

    // Deleting the conversation does not give the tokens back.
    await graphql(
      app.graphqlUrl,
      `mutation($input: DeleteSessionInput!) { deleteSession(input: $input) { deletedSessionId } }`,
      {
        input: { sessionId },
      },
      user.token,
    );
    const other = await createSession(app.graphqlUrl, user.token);
    const again = await graphql(
      app.graphqlUrl,
      SendMessageDocument,
      { input: { sessionId: other, content: "new session" } },
      user.token,
    );
    expect(again.errors?.[0]?.extensions?.code).toBe("QUOTA_EXCEEDED");

    // Another user's quota is their own.
    const neighbour = await signUp(app.graphqlUrl);
    const theirs = await createSession(app.graphqlUrl, neighbour.token);
    expect(
      (
        await graphql(
          app.graphqlUrl,
          SendMessageDocument,
          { input: { sessionId: theirs, content: "hi" } },
          neighbour.token,
        )
      ).errors,
    ).toBeUndefined();
  });
});
