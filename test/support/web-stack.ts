// What every browser test needs: the API (test-app), the web client built and served against it (optionally
// through a TCP relay the test can cut), Debian's Chromium, and a signed-up user in a fresh browser context.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { buildWeb, serveWeb, type ServedWeb } from "../../web/scripts/serve.ts";
import { launchChromium } from "./browser.ts";
import { strongPassword } from "./clients.ts";
import { startTcpRelay, type TcpRelay } from "./tcp-relay.ts";
import { startTestApp, type TestApp } from "./test-app.ts";

export interface WebStack {
  app: TestApp;
  web: ServedWeb;
  browser: Browser;
  /** Present when started with `{ relay: true }`: the client reaches the API only through it. */
  relay?: TcpRelay;
  close(): Promise<void>;
}

export async function startWebStack(env: Record<string, string>, { relay: withRelay = false } = {}): Promise<WebStack> {
  // A build of its own: test files run in parallel, and one emptying web/dist would pull pages from under another.
  const outDir = await mkdtemp(join(tmpdir(), "agent-web-"));
  await buildWeb(outDir);
  const app = await startTestApp(env);
  const relay = withRelay ? await startTcpRelay({ host: "127.0.0.1", port: Number(new URL(app.url).port) }) : undefined;
  const web = await serveWeb({ apiUrl: relay ? `${relay.origin}/graphql` : app.graphqlUrl, port: 0, outDir });
  const browser = await launchChromium();
  return {
    app,
    web,
    browser,
    relay,
    async close() {
      await browser.close();
      await web.close();
      await relay?.close();
      await app.cleanup();
      await rm(outDir, { recursive: true, force: true });
    },
  };
}

/** A page whose browser errors reach the test output, so a failing step says why. */
export async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (error) => console.error(`[page] ${error.message}`));
  page.on("console", (message) => message.type() === "error" && console.error(`[console] ${message.text()}`));
  return page;
}

/** Signs a new user up through the client's form; resolves once the signed-in screen shows. */
export async function signUpThroughClient(page: Page, web: ServedWeb): Promise<{ email: string; password: string }> {
  const email = `web-${randomUUID()}@example.com`;
  const password = strongPassword();
  await page.goto(web.url);
  await page.getByRole("textbox", { name: "Email", exact: true }).fill(email);
  await page.getByRole("textbox", { name: "Password", exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign up", exact: true }).click();
  await page.getByRole("button", { name: "Sign out", exact: true }).waitFor();
  return { email, password };
}

/**
 * Opens a new chat and returns its session id. The chat opens once the API has created it: until the URL names it,
 * the Message box still belongs to the chat open before, and typing there would send to that one.
 */
export async function openNewChat(page: Page): Promise<string> {
  const before = page.url();
  await page.getByRole("button", { name: "New chat", exact: true }).click();
  await page.waitForURL((url) => url.href !== before && url.hash.startsWith("#/chats/"));
  await page.getByRole("textbox", { name: "Message", exact: true }).waitFor();
  return openChatId(page);
}

/** The open chat's session id, from the client's URL (`#/chats/<id>`). */
export function openChatId(page: Page): string {
  const id = decodeURIComponent(new URL(page.url()).hash.replace("#/chats/", ""));
  if (!id) throw new Error(`no chat open at ${page.url()}`);
  return id;
}

/** The access token the client holds. */
export const clientToken = (page: Page) =>
  page.evaluate(
    () => (JSON.parse(localStorage.getItem("agent-chat.credentials") ?? "null") as { token: string } | null)?.token,
  );

export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The manifest key codegen put in one of the client's generated documents (what the client sends). */
export function clientDocumentHash(document: unknown): string {
  const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  if (!hash) throw new Error("not one of the web client's generated documents");
  return hash;
}
