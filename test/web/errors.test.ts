// Errors a user can act on, as the web client shows them in Chromium: a used-up daily quota (with when it
// resets) and a rate limit (with how long to wait), each from the API's real answer; nothing is stored for them.
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "../support/clients.ts";
import {
  clientToken,
  newPage,
  openChatId,
  signUpThroughClient,
  startWebStack,
  type WebStack,
  openNewChat,
} from "../support/web-stack.ts";

let stack: WebStack;

beforeAll(async () => {
  // One reply spends the day's 60 tokens; two sends a minute are allowed.
  stack = await startWebStack({ LLM_DAILY_TOKEN_LIMIT: "60", RATE_LIMIT_SEND_PER_MIN: "2" });
}, 180_000);

afterAll(() => stack?.close());

async function send(page: Page, text: string) {
  await page.getByRole("textbox", { name: "Message", exact: true }).fill(text);
  await page.getByRole("button", { name: "Send", exact: true }).click();
}

describe("errors in the web client", { timeout: 60_000 }, () => {
  it("says when the quota is used up and when it resets, then how long to wait when rate limited", async () => {
    const page = await newPage(await stack.browser.newContext());
    await signUpThroughClient(page, stack.web);
    await openNewChat(page);

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
    const query = `query ($id: ID!) { session(id: $id) { messages { totalCount } } }`;
    const stored = await graphql(stack.app.graphqlUrl, query, { id: openChatId(page) }, await clientToken(page));
    expect(stored.data.session.messages.totalCount).toBe(2);
  });
});
