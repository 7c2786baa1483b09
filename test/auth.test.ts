import { print } from "graphql";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoginDocument, MeDocument, RegisterDocument } from "./generated/graphql.ts";
import { graphql, signUp, strongPassword } from "./support/clients.ts";
import { startTestApp, TEST_JWT_SECRET, type TestApp } from "./support/test-app.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.cleanup();
});

describe("register and login", () => {
  it("registers with a trimmed, lower-cased email and signs in with the exact password", async () => {
    const password = `  ${strongPassword()} <&>"'`;
    const local = `Mixed.Case+${Date.now()}`;
    const registered = await graphql(app.graphqlUrl, RegisterDocument, {
      input: { email: `  ${local}@Example.COM `, password },
    });
    expect(registered.errors).toBeUndefined();
    expect(registered.data!.register.user.email).toBe(`${local.toLowerCase()}@example.com`);
    expect(new Date(registered.data!.register.expiresAt).getTime()).toBeGreaterThan(Date.now());

    const login = await graphql(app.graphqlUrl, LoginDocument, { input: { email: `${local}@EXAMPLE.com`, password } });
    expect(login.errors).toBeUndefined();
    expect(login.data!.login.user.id).toBe(registered.data!.register.user.id);

    // The password is used exactly as given: trimmed or escaped variants are wrong passwords.
    const trimmed = await graphql(app.graphqlUrl, LoginDocument, {
      input: { email: `${local}@example.com`, password: password.trim() },
    });
    expect(trimmed.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("issues a JWT with sub, sid, exp, iat and jti", async () => {
    const user = await signUp(app.graphqlUrl);
    const [, payload] = user.token.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
    expect(Object.keys(claims).sort()).toEqual(["exp", "iat", "jti", "sid", "sub"]);
    expect(claims.exp - claims.iat).toBe(900);
    const me = await graphql(app.graphqlUrl, MeDocument, {}, user.token);
    expect(me.data!.me!.email).toBe(user.email);
    expect(me.data!.me!.id).toBe(user.userId);
  });

  it.each([
    ["short", "Aa1!aaa", "at least 8"],
    ["no upper-case", "aaaaaaa1!", "upper-case"],
    ["no lower-case", "AAAAAAA1!", "lower-case"],
    ["no digit", "Aaaaaaaa!", "digit"],
    ["no symbol", "Aaaaaaaa1", "symbol"],
    ["too long", `Aa1!${"a".repeat(125)}`, "at most 128"],
  ])("rejects a password that is %s, naming the field", async (_label, password, hint) => {
    const email = `weak-${Date.now()}-${Math.random()}@example.com`;
    const result = await graphql(app.graphqlUrl, RegisterDocument, { input: { email, password } });
    expect(result.data).toBeNull();
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.password" });
    expect(result.errors?.[0]?.message).toContain(hint);
    // Nothing was stored: the same email can still register.
    const retry = await graphql(app.graphqlUrl, RegisterDocument, { input: { email, password: strongPassword() } });
    expect(retry.errors).toBeUndefined();
  });

  it("rejects an invalid email and a duplicate registration", async () => {
    const invalid = await graphql(app.graphqlUrl, RegisterDocument, {
      input: { email: "not-an-email", password: strongPassword() },
    });
    expect(invalid.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.email" });

    const user = await signUp(app.graphqlUrl);
    const duplicate = await graphql(app.graphqlUrl, RegisterDocument, {
      input: { email: user.email.toUpperCase(), password: strongPassword() },
    });
    expect(duplicate.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.email" });
  });

  it("answers a wrong password and an unknown email with the same error", async () => {
    const user = await signUp(app.graphqlUrl);
    const wrongPassword = await graphql(app.graphqlUrl, LoginDocument, {
      input: { email: user.email, password: strongPassword() },
    });
    const unknownEmail = await graphql(app.graphqlUrl, LoginDocument, {
      input: { email: `nobody-${Date.now()}@example.com`, password: user.password },
    });
    expect(wrongPassword.errors?.[0]).toMatchObject({ extensions: { code: "UNAUTHENTICATED" } });
    expect(unknownEmail.errors?.[0]?.message).toBe(wrongPassword.errors?.[0]?.message);
    const { requestId: _unknown, ...unknownExtensions } = unknownEmail.errors?.[0]?.extensions ?? {};
    const { requestId: _wrong, ...wrongExtensions } = wrongPassword.errors?.[0]?.extensions ?? {};
    expect(unknownExtensions).toEqual(wrongExtensions);
  });
});

describe("tokens", () => {
  it("treats a missing token as anonymous", async () => {
    const result = await graphql(app.graphqlUrl, MeDocument);
    expect(result).toMatchObject({ status: 200, data: { me: null } });
  });

  it.each([
    ["garbage", "Bearer not-a-jwt"],
    ["a non-bearer scheme", "Basic dXNlcjpwYXNz"],
  ])("refuses %s with UNAUTHENTICATED", async (_label, header) => {
    const response = await fetch(app.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: header },
      body: JSON.stringify({ query: print(MeDocument) }),
    });
    const body = (await response.json()) as any;
    expect(body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    expect(body.data ?? null).toBeNull();
  });

  it("refuses an expired token, one signed with another key and an alg:none token", async () => {
    const user = await signUp(app.graphqlUrl);
    const now = Math.floor(Date.now() / 1000);
    const sign = (secret: string, exp: number) =>
      new SignJWT({})
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(user.userId)
        .setJti("x")
        .setIssuedAt(now - 7200)
        .setExpirationTime(exp)
        .sign(new TextEncoder().encode(secret));
    const expired = await sign(TEST_JWT_SECRET, now - 3600);
    const foreign = await sign("another-secret-another-secret-another-secret", now + 3600);
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    const body = Buffer.from(JSON.stringify({ sub: user.userId, iat: now, exp: now + 3600, jti: "y" })).toString(
      "base64url",
    );
    for (const token of [expired, foreign, `${header}.${body}.`]) {
      const result = await graphql(app.graphqlUrl, MeDocument, {}, token);
      expect(result.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      expect(result.data ?? null).toBeNull();
    }
  });
});
