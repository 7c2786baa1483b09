// Errors a user can act on, as the web client shows them in Chromium: a used-up daily quota (with when it
// resets) and a rate limit (with how long to wait), each from the API's real answer; nothing is stored for them.
import { randomUUID } from "node:crypto";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWeb, serveWeb, type ServedWeb } from "../../web/scripts/serve.ts";
import { launchChromium } from "../support/browser.ts";
import { graphql, strongPassword } from "../support/clients.ts";
import { startTestApp, type TestApp } from "../support/test-app.ts";

let app: TestApp;
let web: ServedWeb;
let browser: Browser;

beforeAll(async () => {
  await buildWeb();
  // One reply spends the day's 60 tokens; two sends a minute are allowed.
  app = await startTestApp({ LLM_DAILY_TOKEN_LIMIT: "60", RATE_LIMIT_SEND_PER_MIN: "2" });
  web = await serveWeb({ apiUrl: app.graphqlUrl, port: 0 });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await app?.cleanup();
});

async function send(page: Page, text: string) {
  await page.getByRole("textbox", { name: "Message", exact: true }).fill(text);
  await page.getByRole("button", { name: "Send", exact: true }).click();
}

describe("errors in the web client", { timeout: 60_000 }, () => {
  it("says when the quota is used up and when it resets, then how long to wait when rate limited", async () => {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(web.url);
    await page.getByRole("textbox", { name: "Email", exact: true }).fill(`errors-${randomUUID()}@example.com`);
    await page.getByRole("textbox", { name: "Password", exact: true }).fill(strongPassword());
    await page.getByRole("button", { name: "Sign up", exact: true }).click();
    await page.getByRole("button", { name: "New chat", exact: true }).click();

    await send(page, "Hello, spend my quota");
    const replies = page.getByRole("log").getByRole("article", { name: "Assistant" });
    await replies.getByText("Set OPENAI_API_KEY").waitFor();
    await page.getByRole("button", { name: "Stop", exact: true }).and(page.locator(":disabled")).waitFor();

    await send(page, "One more, please");
    const alert = page.getByRole("alert");
    await alert.getByText(/^You have used today's quota \(\d+ of 60 tokens\)\. It resets at \d{1,2}:\d{2}/).waitFor();

    await send(page, "And another");
    const wait = await alert.getByText(/^Too many requests\. Try again in \d+ seconds?\.$/).textContent();
    expect(Number(wait!.match(/\d+/)![0])).toBeGreaterThan(0);

    // Only the first exchange was stored; the message box keeps the refused text for another try.
    expect(await page.getByRole("textbox", { name: "Message", exact: true }).inputValue()).toBe("And another");
    const sessionId = decodeURIComponent(new URL(page.url()).hash.replace("#/chats/", ""));
    const token = await page.evaluate(() => JSON.parse(localStorage.getItem("agent-chat.credentials")!).token as string);
    const stored = await graphql(app.graphqlUrl, `query ($id: ID!) { session(id: $id) { messages { totalCount } } }`, { id: sessionId }, token);
    expect(stored.data.session.messages.totalCount).toBe(2);
  });
});
