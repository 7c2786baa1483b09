// The web client (web/) in Debian's Chromium against the real API, through a TCP relay the test can cut:
// sign-up, chats, a streamed reply that matches what was stored, tool calls, Stop, a dropped connection
// mid-reply, and a reload that rejoins the reply in progress. The API accepts persisted documents only.
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeysDocument, ConversationDocument, type ConversationQuery } from "../../web/src/generated/graphql.ts";
import { postGraphQL } from "../support/clients.ts";
import { persistedBody } from "../support/persisted-documents.ts";
import type { TcpRelay } from "../support/tcp-relay.ts";
import {
  clientDocumentHash,
  clientToken,
  newPage,
  signUpThroughClient,
  startWebStack,
  until,
  type WebStack,
  openNewChat,
} from "../support/web-stack.ts";

// ~70 words at 80 ms: a reply streams for about five seconds, long enough to stop, cut or reload in the middle.
const WORD_DELAY_MS = "80";
const LONG_MESSAGE = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");

let stack: WebStack;
let relay: TcpRelay;

beforeAll(async () => {
  // Trusted documents only, as in production: the client must never send a document's text.
  stack = await startWebStack(
    { DEV_MODEL_TOKEN_DELAY_MS: WORD_DELAY_MS, PERSISTED_DOCUMENTS_ONLY: "true" },
    { relay: true },
  );
  relay = stack.relay!;
}, 180_000);

afterAll(() => stack?.close());

const controls = (page: Page) => ({
  email: page.getByRole("textbox", { name: "Email", exact: true }),
  password: page.getByRole("textbox", { name: "Password", exact: true }),
  message: page.getByRole("textbox", { name: "Message", exact: true }),
  signUp: page.getByRole("button", { name: "Sign up", exact: true }),
  signIn: page.getByRole("button", { name: "Sign in", exact: true }),
  signOut: page.getByRole("button", { name: "Sign out", exact: true }),
  newChat: page.getByRole("button", { name: "New chat", exact: true }),
  send: page.getByRole("button", { name: "Send", exact: true }),
  stop: page.getByRole("button", { name: "Stop", exact: true }),
  log: page.getByRole("log"),
  replies: page.getByRole("log").getByRole("article", { name: "Assistant" }),
});

async function signedUpPage(): Promise<{ page: Page; email: string; password: string }> {
  const page = await newPage(await stack.browser.newContext());
  return { page, ...(await signUpThroughClient(page, stack.web)) };
}

/** Sends the long message and resolves once its reply has shown its first words. */
async function startLongReply(page: Page): Promise<void> {
  const ui = controls(page);
  await ui.message.fill(LONG_MESSAGE);
  await ui.send.click();
  await until(async () => (await contentOf(ui.replies.last())).length > 20, "the first words");
}

const contentOf = async (reply: Locator) => (await reply.locator(".content").textContent()) ?? "";

/** Waits for the last reply to end (Stop turns disabled again), sampling its text as it streams. */
async function watchReply(page: Page): Promise<{ final: string; seen: string[] }> {
  const ui = controls(page);
  const seen: string[] = [];
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const text = await contentOf(ui.replies.last());
    if (seen.at(-1) !== text) seen.push(text);
    if (await ui.stop.isDisabled()) return { final: await contentOf(ui.replies.last()), seen };
    await page.waitForTimeout(50);
  }
  throw new Error(`the reply did not end; last text: ${seen.at(-1)}`);
}

/**
 * The session's stored messages (what a reload would show), read over the API with the page's own token and the
 * client's own persisted Conversation document: this API refuses query text without an API key.
 */
async function storedMessages(page: Page, sessionId: string) {
  const result = await postGraphQL<ConversationQuery>(
    stack.app.graphqlUrl,
    persistedBody(clientDocumentHash(ConversationDocument), { id: sessionId }),
    { authorization: `Bearer ${await clientToken(page)}` },
  );
  return result.data!.session!.messages.edges.map((edge) => edge.node);
}

describe("the web client in Chromium", { timeout: 60_000 }, () => {
  it("signs up, streams a reply token by token and shows exactly the stored text; each control name is unique", async () => {
    const { page } = await signedUpPage();
    const ui = controls(page);
    const sessionId = await openNewChat(page);
    for (const control of [ui.message, ui.newChat, ui.send, ui.stop, ui.signOut, ui.log])
      expect(await control.count()).toBe(1);
    expect(await ui.stop.isDisabled()).toBe(true);

    await ui.message.fill("Hello from the browser test");
    await ui.send.click();
    await until(() => ui.stop.isEnabled(), "Stop to be enabled while the reply streams");
    const { final, seen } = await watchReply(page);

    // Streamed: several partial texts were on screen, each a prefix of the final one.
    const partial = seen.filter((text) => text.length > 0 && text.length < final.length);
    expect(partial.length).toBeGreaterThanOrEqual(3);
    for (const text of partial) expect(final.startsWith(text)).toBe(true);
    const stored = await storedMessages(page, sessionId);
    expect(stored.map((message) => [message.role, message.status])).toEqual([
      ["USER", "COMPLETE"],
      ["ASSISTANT", "COMPLETE"],
    ]);
    expect(final).toBe(stored[1]!.content);
    expect(await ui.log.getByRole("article").count()).toBe(2);
    // The chat took its first message's words as its name, and the list shows it as a link, not a button.
    await page.getByRole("link", { name: "Hello from the browser test" }).waitFor();
    expect(await ui.newChat.count()).toBe(1);
  });

  it("shows a tool call as it starts and as it finishes", async () => {
    const { page } = await signedUpPage();
    const ui = controls(page);
    await openNewChat(page);
    // Every state the tool list goes through, recorded in the page as React renders it.
    await page.evaluate(() => {
      const states: string[] = [];
      (window as unknown as { toolStates: string[] }).toolStates = states;
      new MutationObserver(() => {
        const item = document.querySelector('[role="log"] ul[aria-label="Tool calls"] li');
        if (item && states.at(-1) !== item.textContent) states.push(item.textContent ?? "");
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await ui.message.fill("What time is it?");
    await ui.send.click();
    const { final } = await watchReply(page);
    const states = await page.evaluate(() => (window as unknown as { toolStates: string[] }).toolStates);
    expect(states[0]).toBe("current_time running…");
    expect(states.at(-1)).toMatch(/^current_time → .*\b2\d{3}\b/); // the tool's answer: today's date and time
    expect(final).toContain("The current_time tool says:");
  });

  it("stops a long reply: Stop is enabled only while it streams, and the text so far is kept", async () => {
    const { page } = await signedUpPage();
    const ui = controls(page);
    const sessionId = await openNewChat(page);
    await startLongReply(page);
    await ui.stop.click();
    await until(() => ui.stop.isDisabled(), "Stop to be disabled once the reply ended");
    await ui.replies.last().getByText("Stopped.").waitFor();
    const shown = await contentOf(ui.replies.last());
    const stored = await storedMessages(page, sessionId);
    expect(stored[1]).toMatchObject({ role: "ASSISTANT", status: "CANCELLED", content: shown });
    expect(shown.length).toBeGreaterThan(20);
    expect(shown).not.toContain("OPENAI_API_KEY"); // the reply's last sentence never came
  });

  it("says a reply is still being written when the user sends again meanwhile, and nothing is stored", async () => {
    const { page } = await signedUpPage();
    const ui = controls(page);
    const sessionId = await openNewChat(page);
    await ui.message.fill(LONG_MESSAGE);
    await ui.send.click();
    await until(() => ui.stop.isEnabled(), "the reply to start");
    await ui.message.fill("Another one");
    await ui.send.click();
    await page.getByRole("alert").filter({ hasText: "A reply is still being written in this chat" }).waitFor();
    await watchReply(page);
    expect((await storedMessages(page, sessionId)).map((message) => message.role)).toEqual(["USER", "ASSISTANT"]);
  });

  it("survives the connection dropping mid-reply: it reconnects and the reply ends intact, no gap and nothing twice", async () => {
    const { page } = await signedUpPage();
    const ui = controls(page);
    const sessionId = await openNewChat(page);
    await startLongReply(page);
    const before = await contentOf(ui.replies.last());
    const connectionsBefore = relay.accepted;
    // Every socket cut, and the network down for 1.5 s: words streamed meanwhile must come from the replay.
    relay.cut(1_500);
    await page.getByRole("status").filter({ hasText: "Reconnecting" }).waitFor();
    const { final } = await watchReply(page);
    expect(relay.accepted).toBeGreaterThan(connectionsBefore);
    const stored = await storedMessages(page, sessionId);
    expect(stored[1]).toMatchObject({ role: "ASSISTANT", status: "COMPLETE" });
    expect(final.startsWith(before)).toBe(true);
    expect(final).toBe(stored[1]!.content);
  });

  it("after a reload it is still signed in, reopens the chat and rejoins the reply in progress", async () => {
    const { page } = await signedUpPage();
    const ui = controls(page);
    const sessionId = await openNewChat(page);
    await startLongReply(page);
    await page.reload();
    await ui.signOut.waitFor();
    await until(() => ui.stop.isEnabled(), "the rejoined reply to be streaming");
    const { final, seen } = await watchReply(page);
    expect(seen.some((text) => text.length < final.length)).toBe(true);
    const stored = await storedMessages(page, sessionId);
    expect(stored[1]).toMatchObject({ role: "ASSISTANT", status: "COMPLETE" });
    expect(final).toBe(stored[1]!.content);
    expect(await ui.log.getByRole("article").count()).toBe(2);
  });

  it("renames and deletes chats, keeps the newest activity first, and signs out and back in", async () => {
    const { page, email, password } = await signedUpPage();
    const ui = controls(page);
    await openNewChat(page);
    await page.getByRole("button", { name: "Rename chat" }).click();
    await page.getByRole("textbox", { name: "Chat name" }).fill("First chat");
    await page.getByRole("button", { name: "Save name" }).click();
    await page.getByRole("heading", { name: "First chat" }).waitFor();
    await openNewChat(page);
    await page.getByRole("button", { name: "Rename chat" }).click();
    await page.getByRole("textbox", { name: "Chat name" }).fill("Second chat");
    await page.getByRole("button", { name: "Save name" }).click();
    const chatNames = () => page.getByRole("navigation", { name: "Chats" }).getByRole("link").allTextContents();
    await until(async () => (await chatNames()).join() === "Second chat,First chat", "the renamed chats in the list");

    // Activity in the older chat moves it to the top.
    await page.getByRole("link", { name: "First chat" }).click();
    await ui.message.fill("Back to the first one");
    await ui.send.click();
    await watchReply(page);
    await until(async () => (await chatNames()).join() === "First chat,Second chat", "the active chat first");

    // Deleting a chat (after confirming) takes it off the list.
    await page.getByRole("link", { name: "Second chat" }).click();
    await page.getByRole("heading", { name: "Second chat" }).waitFor();
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Delete chat" }).click();
    await until(async () => (await chatNames()).join() === "First chat", "the deleted chat to leave the list");

    await ui.signOut.click();
    await ui.signIn.waitFor();
    await ui.email.fill(email);
    await ui.password.fill("Wrong-password-1!");
    await ui.signIn.click();
    await page.getByRole("alert").waitFor();
    await ui.password.fill(password);
    await ui.signIn.click();
    await ui.signOut.waitFor();
    await until(async () => (await chatNames()).join() === "First chat", "the chats after signing in again");
  });
  it("creates an API key shown once; a partner's backend sends any query with it, not without it; revoking it ends it", async () => {
    const { page, email } = await signedUpPage();
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("textbox", { name: "Key name" }).fill("Partner backend");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = (await page.getByLabel("New API key").textContent()) ?? "";
    expect(secret).toMatch(/^agk_/);
    await page.getByRole("cell", { name: `${secret.slice(0, 12)}…` }).waitFor(); // the list shows the prefix only

    // The partner's backend: any document with the key; the same document without it is refused (trusted mode).
    const partnerQuery = (headers: Record<string, string>) =>
      postGraphQL(stack.app.graphqlUrl, { query: "{ me { email apiKeys { name } } }" }, headers);
    const withKey = await partnerQuery({ "x-api-key": secret });
    expect(withKey.data.me).toEqual({ email, apiKeys: [{ name: "Partner backend" }] });
    const withToken = await partnerQuery({ authorization: `Bearer ${await clientToken(page)}` });
    expect(withToken.errors![0]!.extensions!.code).toBe("PERSISTED_QUERY_ONLY");

    await page.getByRole("button", { name: "Revoke Partner backend" }).click();
    await page.getByRole("cell", { name: /^revoked / }).waitFor();
    // A revoked key unlocks no text (the gate refuses it as any keyless request), and even the app's own documents
    // are refused to it as UNAUTHENTICATED.
    const revoked = await partnerQuery({ "x-api-key": secret });
    expect(revoked.errors![0]!.extensions!.code).toBe("PERSISTED_QUERY_ONLY");
    const trustedWithRevokedKey = await postGraphQL(
      stack.app.graphqlUrl,
      persistedBody(clientDocumentHash(ApiKeysDocument)),
      {
        "x-api-key": secret,
      },
    );
    expect(trustedWithRevokedKey.status).toBe(401);
    expect(trustedWithRevokedKey.errors![0]!.extensions!.code).toBe("UNAUTHENTICATED");
    // The secret was shown once: a reload shows the list, not the secret.
    await page.reload();
    await page.getByRole("cell", { name: "Partner backend" }).waitFor();
    expect(await page.getByLabel("New API key").count()).toBe(0);
  });
});
