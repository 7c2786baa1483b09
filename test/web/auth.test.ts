// The web client's credentials in Chromium: access tokens refreshed before they expire by one request even when
// several operations (and a second tab) need it at once, a refresh after an UNAUTHENTICATED answer, the WebSocket
// reconnecting with the new token, and signing in surviving a reload. The API treats a refresh token spent twice
// as theft and ends the login, so a client that refreshed twice would be signed out here.
import type { BrowserContext, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RefreshDocument } from "../../web/src/generated/graphql.ts";
import { graphql } from "../support/clients.ts";
import {
  clientDocumentHash,
  clientToken as storedToken,
  newPage,
  openChatId,
  signUpThroughClient,
  startWebStack,
  until,
  type WebStack,
  openNewChat,
} from "../support/web-stack.ts";

// The client refreshes a minute before expiry: 14 minutes after each sign-in or refresh with the default 15-minute
// tokens. The pages' clocks are Playwright's: the tests move them past that moment when they choose (in the middle of
// a streaming reply, say), with no real waiting and no race with a slow machine. The API's clock runs as usual.
const PAST_REFRESH_DUE = "14:05";
const LONG_MESSAGE = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
const REFRESH_HASH = clientDocumentHash(RefreshDocument);

let stack: WebStack;

beforeAll(async () => {
  // ~70 words at 80 ms: a long reply streams for about five seconds.
  stack = await startWebStack({ ACCESS_TOKEN_TTL_SECONDS: "900", DEV_MODEL_TOKEN_DELAY_MS: "80" });
}, 180_000);

afterAll(() => stack?.close());

const isRefresh = (request: Request) =>
  request.method() === "POST" && (request.postData() ?? "").includes(REFRESH_HASH);

/** The refreshes a page sends (and the tokens they bring) and the token each of its sockets opened with. */
function watchPage(page: Page) {
  const refreshes: Request[] = [];
  const refreshedTokens: string[] = [];
  const socketTokens: string[] = [];
  page.on("request", (request) => isRefresh(request) && refreshes.push(request));
  page.on("response", async (response) => {
    if (isRefresh(response.request())) refreshedTokens.push((await response.json()).data?.refreshToken?.token);
  });
  // The token each WebSocket connection was opened with (graphql-ws's connection_init).
  page.on("websocket", (socket) =>
    socket.on("framesent", ({ payload }) => {
      const message = JSON.parse(String(payload));
      if (message.type === "connection_init") socketTokens.push(message.payload?.authorization ?? "");
    }),
  );
  return { refreshes, refreshedTokens, socketTokens };
}

/** A browser context whose pages run on Playwright's clock (time flows until a test fast-forwards it). */
async function newContext(): Promise<BrowserContext> {
  const context = await stack.browser.newContext();
  await context.clock.install();
  return context;
}

async function signUp(context: BrowserContext): Promise<{ page: Page; watched: ReturnType<typeof watchPage> }> {
  const page = await newPage(context);
  const watched = watchPage(page);
  await signUpThroughClient(page, stack.web);
  return { page, watched };
}

/** The content of the last assistant message of the page's open chat, as stored. */
async function storedReply(page: Page): Promise<string> {
  const sessionId = openChatId(page);
  const token = await storedToken(page);
  const response = await graphql<{ session: { messages: { edges: Array<{ node: { content: string } }> } } }>(
    stack.app.graphqlUrl,
    `query ($id: ID!) { session(id: $id) { messages(last: 1) { edges { node { content } } } } }`,
    { id: sessionId },
    token,
  );
  return response.data!.session.messages.edges[0]!.node.content;
}

async function chatOnce(page: Page, text: string): Promise<void> {
  await openNewChat(page);
  const message = page.getByRole("textbox", { name: "Message", exact: true });
  await message.fill(text);
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.getByRole("log").getByRole("article", { name: "Assistant" }).getByText("Set OPENAI_API_KEY").waitFor();
}

describe("the web client's sign-in in Chromium", { timeout: 60_000 }, () => {
  it("refreshes ahead of expiry, presents each refresh token once, and moves the socket streaming a reply to the new token", async () => {
    const { page, watched } = await signUp(await newContext());
    const first = await storedToken(page);
    await page.getByRole("button", { name: "New chat", exact: true }).click();
    await page.getByRole("textbox", { name: "Message", exact: true }).fill(LONG_MESSAGE);
    await page.getByRole("button", { name: "Send", exact: true }).click();
    const reply = page.getByRole("log").getByRole("article", { name: "Assistant" });
    await reply.getByText("offline dev model").waitFor(); // streaming on a socket opened with the first token
    expect(watched.socketTokens[0]).toBe(`Bearer ${first}`);

    // The refresh comes due while the reply streams, and the socket reconnects with the new token; the reply
    // resumes from its cursor and ends intact.
    expect(watched.refreshes).toHaveLength(0);
    await page.clock.fastForward(PAST_REFRESH_DUE);
    await until(() => page.getByRole("button", { name: "Stop", exact: true }).isDisabled(), "the reply to end");
    expect(watched.refreshedTokens).toHaveLength(1);
    expect(watched.refreshedTokens[0]).not.toBe(first);
    expect(watched.socketTokens).toEqual([`Bearer ${first}`, `Bearer ${watched.refreshedTokens[0]}`]);
    expect(await reply.locator(".content").textContent()).toBe(await storedReply(page));

    // Each refresh token is presented once (a second presentation would end the login), and the login lives on.
    // (Waiting for the answer to be stored: a reload in between would lose the new refresh token, and presenting
    // the spent one again would end the login; the API is strict about that by design.)
    await page.clock.fastForward(PAST_REFRESH_DUE);
    await until(
      async () => watched.refreshedTokens.length === 2 && (await storedToken(page)) === watched.refreshedTokens.at(-1),
      "a second refresh",
    );
    const presented = watched.refreshes.map((request) => JSON.parse(request.postData()!).variables.input.refreshToken);
    expect(new Set(presented).size).toBe(presented.length);
    await page.reload();
    await page.getByRole("button", { name: "Sign out", exact: true }).waitFor();
    await chatOnce(page, "Hello after two refreshes");
  });

  it("two tabs of one browser share a refresh: one request, both stay signed in", async () => {
    const context = await newContext();
    const { page: first, watched: firstWatched } = await signUp(context);
    const second = await newPage(context);
    const secondWatched = watchPage(second);
    await second.goto(stack.web.url);
    await second.getByRole("button", { name: "Sign out", exact: true }).waitFor(); // signed in from the shared storage
    // Both tabs' refresh timers come due together; the Web Lock lets one refresh and the other adopt its result.
    await Promise.all([first.clock.fastForward(PAST_REFRESH_DUE), second.clock.fastForward(PAST_REFRESH_DUE)]);
    await until(
      async () =>
        (await storedToken(first)) !== undefined &&
        firstWatched.refreshedTokens.length + secondWatched.refreshedTokens.length === 1,
      "the refresh",
    );
    await first.waitForTimeout(1_000); // time for a second, wrong refresh to show up
    expect(firstWatched.refreshes.length + secondWatched.refreshes.length).toBe(1);
    await Promise.all([chatOnce(first, "From the first tab"), chatOnce(second, "From the second tab")]);
    expect(await storedToken(first)).toBe(await storedToken(second));
  });

  it("refreshes and retries an operation the API answered with UNAUTHENTICATED", async () => {
    const { page, watched } = await signUp(await newContext());
    // The API refuses the next operation's token once (as it would a token revoked by a rotated key, say).
    let refused = 0;
    await page.route("**/graphql", async (route) => {
      if (refused > 0 || isRefresh(route.request()) || route.request().method() !== "POST") return route.fallback();
      refused += 1;
      await route.fulfill({
        status: 200,
        contentType: "application/json",
        headers: { "access-control-allow-origin": "*" },
        body: JSON.stringify({
          errors: [{ message: "Access token expired", extensions: { code: "UNAUTHENTICATED" } }],
        }),
      });
    });
    // New chat's mutation is refused; the client refreshes (14 minutes before its timer would) and sends it again.
    await page.getByRole("button", { name: "New chat", exact: true }).click();
    await page.getByRole("textbox", { name: "Message", exact: true }).waitFor();
    expect(refused).toBe(1);
    expect(watched.refreshes).toHaveLength(1);
    expect(watched.refreshedTokens[0]).toBe(await storedToken(page));
  });
});
