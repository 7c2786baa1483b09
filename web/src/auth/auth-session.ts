// The signed-in user's credentials, kept in localStorage so a reload stays signed in, and refreshed from one place.
// The API treats a refresh token presented twice as stolen and signs the login out everywhere, so every refresh
// (urql's authExchange, the WebSocket, a timer, a second tab) goes through `refresh()`: one request in flight per
// tab, and a Web Lock across tabs, inside which the latest credentials are re-read from IndexedDB in case another
// tab already refreshed. Not from localStorage: it reaches other tabs asynchronously, and a tab that read it
// right after taking the lock was seen (in Chromium) to get the spent refresh token and present it again.
import { del, get, set } from "idb-keyval";
import type { CredentialsFragment } from "../generated/graphql.ts";

export interface Credentials extends CredentialsFragment {
  user: { id: string; email: string };
}

/**
 * Credentials with their deadlines on this device's clock. The API's `expiresAt` is on the server's clock, and a
 * device whose clock runs minutes ahead would find every fresh token "about to expire" and refresh in a loop (seen
 * in the browser tests with a page clock moved ahead); the token's lifetime (JWT `exp - iat`) from the moment it
 * arrived is right whatever either clock says.
 */
interface HeldCredentials extends Credentials {
  localExpiresAt: number;
  localRefreshExpiresAt: number;
}

/** Refreshed this long before the access token expires, so no request is sent with a token about to lapse. */
const REFRESH_AHEAD_MS = 60_000;
const STORAGE_KEY = "agent-chat.credentials";
const LOCK_NAME = "agent-chat.refresh";

/** The refresh token was spent, expired or revoked: the user must sign in again. */
export class SignedOutError extends Error {
  constructor() {
    super("Your sign-in has ended; sign in again.");
  }
}

type RefreshCall = (refreshToken: string) => Promise<Credentials>;

export class AuthSession {
  private credentials: HeldCredentials | null = readStored();
  private inFlight: Promise<HeldCredentials> | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly refreshedListeners = new Set<() => void>();
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly refreshCall: RefreshCall) {
    // Another tab signed in, refreshed or signed out: follow it instead of using a token it has replaced.
    window.addEventListener("storage", (event) => {
      if (event.key !== STORAGE_KEY) return;
      this.credentials = readStored();
      this.scheduleRefresh();
      this.notify();
    });
    this.scheduleRefresh();
  }

  get user(): Credentials["user"] | null {
    return this.credentials?.user ?? null;
  }

  get token(): string | null {
    return this.credentials?.token ?? null;
  }

  expiresSoon(now = Date.now()): boolean {
    return this.credentials !== null && this.credentials.localExpiresAt - now < REFRESH_AHEAD_MS;
  }

  signedIn(credentials: Credentials): void {
    this.store(onLocalClock(credentials));
  }

  signedOut(): void {
    this.store(null);
  }

  /** The access token, refreshed first when it is about to expire; null when signed out. */
  async freshToken(): Promise<string | null> {
    if (this.credentials && this.expiresSoon()) await this.refresh().catch(() => undefined);
    return this.token;
  }

  /** New credentials for this login; concurrent callers share one refresh. Signs out when the server refuses it. */
  refresh(): Promise<HeldCredentials> {
    this.inFlight ??= this.refreshOnce().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** Called on every change of user (sign-in, sign-out); returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after each successful refresh (the WebSocket reconnects with the new token). */
  onRefreshed(listener: () => void): () => void {
    this.refreshedListeners.add(listener);
    return () => this.refreshedListeners.delete(listener);
  }

  private async refreshOnce(): Promise<HeldCredentials> {
    const spent = this.credentials?.refreshToken;
    const run = async () => {
      // Another tab may have refreshed while this one waited for the lock: its credentials are the live ones.
      const latest = (await get<HeldCredentials>(STORAGE_KEY)) ?? readStored();
      if (latest && latest.refreshToken !== spent) return latest;
      if (!latest) throw new SignedOutError();
      const fresh = onLocalClock(await this.refreshCall(latest.refreshToken));
      await set(STORAGE_KEY, fresh); // before the lock is released, so the next tab in line sees it
      return fresh;
    };
    try {
      const fresh = navigator.locks ? await navigator.locks.request(LOCK_NAME, run) : await run();
      this.store(fresh);
      for (const listener of this.refreshedListeners) listener();
      return fresh;
    } catch (error) {
      if (error instanceof SignedOutError) this.signedOut();
      throw error;
    }
  }

  private store(credentials: HeldCredentials | null): void {
    const changedUser = credentials?.user.id !== this.credentials?.user.id;
    this.credentials = credentials;
    // localStorage: read synchronously at start-up (a reload renders signed in at once) and its change events tell
    // other tabs. IndexedDB: what the refresh lock reads.
    if (credentials) localStorage.setItem(STORAGE_KEY, JSON.stringify(credentials));
    else localStorage.removeItem(STORAGE_KEY);
    void (credentials ? set(STORAGE_KEY, credentials) : del(STORAGE_KEY)).catch(() => undefined);
    this.scheduleRefresh();
    if (changedUser) this.notify();
  }

  /**
   * Refreshes ahead of expiry even when nothing is sent over HTTP, so a socket streaming a long reply moves to the
   * new token (see onRefreshed) before the server would close it with 4401. Tabs' timers meet in the Web Lock.
   */
  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    if (!this.credentials) return;
    const due = this.credentials.localExpiresAt - REFRESH_AHEAD_MS - Date.now();
    this.refreshTimer = setTimeout(() => void this.refresh().catch(() => undefined), Math.max(0, due));
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

function readStored(): HeldCredentials | null {
  try {
    const stored = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null") as HeldCredentials | null;
    return stored && typeof stored.localRefreshExpiresAt === "number" && stored.localRefreshExpiresAt > Date.now()
      ? stored
      : null;
  } catch {
    return null;
  }
}

function onLocalClock(credentials: Credentials): HeldCredentials {
  const now = Date.now();
  const serverExpiry = Date.parse(credentials.expiresAt);
  const lifetime = tokenLifetimeMs(credentials.token) ?? serverExpiry - now;
  return {
    ...credentials,
    localExpiresAt: now + lifetime,
    localRefreshExpiresAt: now + lifetime + (Date.parse(credentials.refreshTokenExpiresAt) - serverExpiry),
  };
}

/** `exp - iat` of a JWT (read, not verified: only the server can, and only its answer counts). */
function tokenLifetimeMs(token: string): number | undefined {
  try {
    const payload = JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as {
      exp?: unknown;
      iat?: unknown;
    };
    return typeof payload.exp === "number" && typeof payload.iat === "number"
      ? (payload.exp - payload.iat) * 1000
      : undefined;
  } catch {
    return undefined;
  }
}
