// Refresh-token rotation, reuse detection, logout, and revocation reaching every transport at once.
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogoutDocument, MeDocument, RefreshTokenDocument, SendMessageDocument } from "./generated/graphql.ts";
import {
  createSession,
  firstSubscriptionResult,
  graphql,
  MESSAGE_STREAM,
  signUp,
  wsClient,
  watchSubscription,
} from "./support/clients.ts";
import { sseSubscribe } from "./support/sse.ts";
import { startTestApp, TEST_JWT_SECRET, type TestApp } from "./support/test-app.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.cleanup();
});

const me = async (token: string) => graphql(app.graphqlUrl, MeDocument, {}, token);
const refresh = async (refreshToken: string) =>
  graphql(app.graphqlUrl, RefreshTokenDocument, { input: { refreshToken } });

describe("refresh tokens", () => {
  it("rotates: each refresh token works once and returns a new pair for the same user", async () => {
    const user = await signUp(app.graphqlUrl);
    const first = await refresh(user.refreshToken);
    expect(first.errors).toBeUndefined();
    const next = first.data!.refreshToken;
    expect(next.refreshToken).not.toBe(user.refreshToken);
    expect(next.token).not.toBe(user.token);
    expect(new Date(next.refreshTokenExpiresAt).getTime()).toBeGreaterThan(Date.now() + 29 * 24 * 3600 * 1000);
    expect((await me(next.token)).data?.me).toMatchObject({ id: user.userId });
    // The next one in the chain works too.
    expect((await refresh(next.refreshToken)).errors).toBeUndefined();
  });

  it("treats a spent refresh token presented again as theft and revokes the whole login", async () => {
    const user = await signUp(app.graphqlUrl);
    const rotated = (await refresh(user.refreshToken)).data!.refreshToken;
    const replay = await refresh(user.refreshToken);
    expect(replay.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(replay.data).toBeNull();
    // Everything that login issued is dead now: the legitimate holder's newer tokens too.
    expect((await refresh(rotated.refreshToken)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect((await me(rotated.token)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect((await me(user.token)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    // Other logins of the same user are untouched.
    const other = await graphql(app.graphqlUrl, `mutation($input: LoginInput!) { login(input: $input) { token } }`, {
      input: { email: user.email, password: user.password },
    });
    expect((await me(other.data.login.token)).data?.me?.id).toBe(user.userId);
  });

  it("refuses unknown and malformed refresh tokens without revoking anything", async () => {
    const user = await signUp(app.graphqlUrl);
    for (const bogus of ["rt_unknown", "", "x".repeat(5000)]) {
      expect((await refresh(bogus)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    }
    expect((await me(user.token)).data?.me?.id).toBe(user.userId);
    expect((await refresh(user.refreshToken)).errors).toBeUndefined();
  });

  it("lets only one of two concurrent refreshes with the same token win", async () => {
    const user = await signUp(app.graphqlUrl);
    const results = await Promise.all([refresh(user.refreshToken), refresh(user.refreshToken)]);
    const winners = results.filter((result) => !result.errors);
    // Exactly one: the spend is conditional on the token being unused, so one of the two always gets it.
    expect(winners).toHaveLength(1);
    expect(winners[0]!.data!.refreshToken.token).toEqual(expect.any(String));
    expect(results.filter((result) => result.errors?.[0]?.extensions?.code === "UNAUTHENTICATED")).toHaveLength(1);
  });
});

describe("logout", () => {
  it("revokes the access and refresh token at once over HTTP", async () => {
    const user = await signUp(app.graphqlUrl);
    const result = await graphql(app.graphqlUrl, LogoutDocument, {}, user.token);
    expect(result.data).toEqual({ logout: { revokedLogins: 1 } });
    expect((await me(user.token)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect((await refresh(user.refreshToken)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("everywhere: ends every login of the user and no one else's", async () => {
    const user = await signUp(app.graphqlUrl);
    const bystander = await signUp(app.graphqlUrl);
    const second = await graphql(app.graphqlUrl, `mutation($input: LoginInput!) { login(input: $input) { token } }`, {
      input: { email: user.email, password: user.password },
    });
    const result = await graphql(app.graphqlUrl, LogoutDocument, { input: { everywhere: true } }, user.token);
    expect(result.data).toEqual({ logout: { revokedLogins: 2 } });
    expect((await me(second.data.login.token)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect((await me(bystander.token)).data?.me?.id).toBe(bystander.userId);
  });

  it("needs a signed-in caller", async () => {
    const result = await graphql(app.graphqlUrl, LogoutDocument, {});
    expect(result.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("closes the login's graphql-ws sockets with 4401 'Access token revoked'", { timeout: 15_000 }, async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const { connected, closed } = watchSubscription(app.wsUrl, user.token, sessionId);
    await connected;
    await graphql(app.graphqlUrl, LogoutDocument, {}, user.token);
    expect(await closed).toMatchObject({ code: 4401, reason: "Access token revoked" });
  });

  it("ends the login's SSE subscriptions with a final UNAUTHENTICATED error", { timeout: 15_000 }, async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const sse = await sseSubscribe(app.graphqlUrl, MESSAGE_STREAM, { sessionId }, user.token);
    // The subscription is live once a sent message's events arrive on it.
    const sent = await graphql(
      app.graphqlUrl,
      SendMessageDocument,
      { input: { sessionId, content: "hi" } },
      user.token,
    );
    expect((await sse.next())?.data?.messageStream).toMatchObject({ messageId: sent.data!.sendMessage.reply.id });
    await graphql(app.graphqlUrl, LogoutDocument, {}, user.token);
    let last = await sse.next();
    while (last?.data) last = await sse.next();
    expect(last?.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(await sse.next()).toBeUndefined();
  });
});

describe("forged and revoked access tokens on every transport", () => {
  const forge = async (userId: string, loginId: string, secret = TEST_JWT_SECRET, expiresIn = 600) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ sid: loginId })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(userId)
      .setJti("forged")
      .setIssuedAt(now - 10)
      .setExpirationTime(now + expiresIn)
      .sign(new TextEncoder().encode(secret));
  };
  const sidOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).sid as string;

  it("refuses them over HTTP, SSE and graphql-ws alike, never as anonymous or another user", async () => {
    const victim = await signUp(app.graphqlUrl);
    const attacker = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, victim.token);
    const revoked = (await signUp(app.graphqlUrl)).token;
    await graphql(app.graphqlUrl, LogoutDocument, {}, revoked);
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${revoked.split(".")[1]}.`;
    const tokens = {
      revoked,
      "signed with another key": await forge(
        victim.userId,
        sidOf(victim.token),
        "another-secret-another-secret-0123456789",
      ),
      expired: await forge(victim.userId, sidOf(victim.token), TEST_JWT_SECRET, -60),
      "alg none": none,
      // A valid signature cannot splice the victim's id onto the attacker's login.
      "victim's sub on attacker's login": await forge(victim.userId, sidOf(attacker.token)),
    };
    for (const [label, token] of Object.entries(tokens)) {
      const http = await me(token);
      expect([label, http.errors?.[0]?.extensions?.code]).toEqual([label, "UNAUTHENTICATED"]);
      expect(http.data ?? null).toBeNull();

      const sse = await sseSubscribe(app.graphqlUrl, MESSAGE_STREAM, { sessionId }, token);
      const sseFirst = await sse.next();
      expect([label, sseFirst?.errors?.[0]?.extensions?.code]).toEqual([label, "UNAUTHENTICATED"]);
      await sse.close();

      const client = wsClient(app.wsUrl, token);
      const ws = await firstSubscriptionResult(client, { query: MESSAGE_STREAM, variables: { sessionId } });
      expect([label, ws.errors?.[0]?.extensions?.code]).toEqual([label, "UNAUTHENTICATED"]);
      await client.dispose();
    }
  });
});
