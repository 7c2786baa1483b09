import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSession, signUp, watchSubscription } from "./support/clients.ts";
import { startTestApp, type TestApp } from "./support/test-app.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ ACCESS_TOKEN_TTL_SECONDS: "2" });
});
afterAll(async () => {
  await app?.cleanup();
});

describe("graphql-ws connections and token lifetime", () => {
  it("closes a connection with 4401 when its access token expires", { timeout: 15_000 }, async () => {
    const user = await signUp(app.graphqlUrl);
    const sessionId = await createSession(app.graphqlUrl, user.token);
    const openedAt = Date.now();
    const { closed } = watchSubscription(app.wsUrl, user.token, sessionId);
    const event = await closed;
    expect(event.code).toBe(4401);
    expect(event.reason).toBe("Access token expired");
    // Issued with a 2 s lifetime (whole seconds), closed at expiry: not at once, not much later.
    expect(Date.now() - openedAt).toBeGreaterThan(500);
    expect(Date.now() - openedAt).toBeLessThan(4000);
  });
});
