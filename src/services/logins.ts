// Logins: one per signed-in client, each with a chain of single-use refresh tokens. A spent refresh token
// presented again means it was stolen (or the client is broken): the whole login is revoked.
import { createHash, randomBytes } from "node:crypto";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { RevocationFeed } from "../security/revocations.ts";
import { InvalidTokenError, type IssuedToken, type TokenService } from "../security/tokens.ts";
import type { Viewer } from "../security/viewer.ts";
import { BoundedCache } from "./bounded-cache.ts";
import { API_KEY_FORBIDDEN, AppError } from "./errors.ts";

export interface Credentials extends IssuedToken {
  userId: string;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
}

export type RevokeReason = "LOGOUT" | "LOGOUT_EVERYWHERE" | "REFRESH_TOKEN_REUSE";

const REFRESH_TOKEN_PREFIX = "rt_";
/**
 * Logins seen valid are not re-read for this long. A revocation drops its logins from every instance's cache at once
 * (the revoking instance before it answers, the others by the broadcast); this only bounds how long a revocation
 * whose broadcast was lost (Redis down) could go unnoticed.
 */
const VALID_LOGIN_CACHE_MS = 30_000;
const VALID_LOGIN_CACHE_ENTRIES = 100_000;
const INVALID_REFRESH_TOKEN = "The refresh token is invalid, expired or already used; sign in again.";

export class LoginService {
  /** loginId → its user, for logins known to be valid (see VALID_LOGIN_CACHE_MS). */
  private readonly validLogins = new BoundedCache<string, string>(VALID_LOGIN_CACHE_ENTRIES, VALID_LOGIN_CACHE_MS);

  constructor(
    private readonly prisma: PrismaClient,
    private readonly tokens: TokenService,
    private readonly revocations: RevocationFeed,
    private readonly refreshTokenTtlSeconds: number,
  ) {
    revocations.subscribe((loginId) => this.validLogins.delete(loginId));
  }

  /** A new login for a user who just proved who they are. */
  async start(userId: string): Promise<Credentials> {
    const login = await this.prisma.login.create({ data: { userId }, select: { id: true } });
    return this.issue(userId, login.id);
  }

  /** Spends a refresh token and returns the next credentials of the same login. */
  async refresh(refreshToken: string): Promise<Credentials> {
    const stored = await this.prisma.refreshToken.findUnique({
      where: { tokenHash: hashRefreshToken(refreshToken) },
      select: {
        id: true,
        expiresAt: true,
        usedAt: true,
        login: { select: { id: true, userId: true, revokedAt: true } },
      },
    });
    if (!stored || stored.login.revokedAt) throw new AppError("UNAUTHENTICATED", INVALID_REFRESH_TOKEN);
    if (stored.usedAt) {
      await this.revoke([stored.login.id], "REFRESH_TOKEN_REUSE");
      throw new AppError("UNAUTHENTICATED", INVALID_REFRESH_TOKEN);
    }
    if (stored.expiresAt.getTime() <= Date.now()) throw new AppError("UNAUTHENTICATED", INVALID_REFRESH_TOKEN);
    // Conditional on `usedAt: null`, so of two concurrent refreshes with one token exactly one wins;
    // the loser is treated as reuse.
    const { count } = await this.prisma.refreshToken.updateMany({
      where: { id: stored.id, usedAt: null },
      data: { usedAt: new Date() },
    });
    if (count === 0) {
      await this.revoke([stored.login.id], "REFRESH_TOKEN_REUSE");
      throw new AppError("UNAUTHENTICATED", INVALID_REFRESH_TOKEN);
    }
    await this.prisma.login.update({ where: { id: stored.login.id }, data: { lastUsedAt: new Date() } });
    return this.issue(stored.login.userId, stored.login.id);
  }

  /** Ends the viewer's login (or all of the user's logins); returns how many were revoked. */
  async logout(viewer: Viewer, { everywhere = false }: { everywhere?: boolean } = {}): Promise<number> {
    // An API key is no login: it may not end the owner's sign-ins (the API refuses it first; this is the backstop).
    if (viewer.apiKeyId) throw new AppError("FORBIDDEN", API_KEY_FORBIDDEN);
    const where = everywhere
      ? { userId: viewer.userId, revokedAt: null }
      : { id: viewer.credentialId, revokedAt: null };
    const logins = await this.prisma.login.findMany({ where, select: { id: true } });
    return this.revoke(
      logins.map((login) => login.id),
      everywhere ? "LOGOUT_EVERYWHERE" : "LOGOUT",
    );
  }

  /** Checks an `Authorization` value: a valid signature, not expired, and its login not revoked. */
  async authenticate(authorization: string): Promise<Viewer> {
    const claims = await this.tokens.verifyBearer(authorization);
    let userId = this.validLogins.get(claims.loginId);
    if (userId === undefined) {
      const login = await this.prisma.login.findUnique({
        where: { id: claims.loginId },
        select: { userId: true, revokedAt: true },
      });
      if (!login || login.revokedAt) throw new InvalidTokenError("revoked");
      userId = login.userId;
      this.validLogins.set(claims.loginId, userId);
    }
    if (userId !== claims.userId) throw new InvalidTokenError("revoked");
    return { userId: claims.userId, credentialId: claims.loginId, expiresAt: claims.expiresAt };
  }

  private async revoke(loginIds: string[], reason: RevokeReason): Promise<number> {
    if (loginIds.length === 0) return 0;
    for (const loginId of loginIds) this.validLogins.delete(loginId); // before the answer, not when the broadcast returns
    const { count } = await this.prisma.login.updateMany({
      where: { id: { in: loginIds }, revokedAt: null },
      data: { revokedAt: new Date(), revokedReason: reason },
    });
    // Spent or not, the login's refresh tokens can never be used again; drop them.
    await this.prisma.refreshToken.deleteMany({ where: { loginId: { in: loginIds }, usedAt: null } });
    await this.revocations.publish(loginIds);
    return count;
  }

  private async issue(userId: string, loginId: string): Promise<Credentials> {
    const refreshToken = REFRESH_TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const refreshTokenExpiresAt = new Date(Date.now() + this.refreshTokenTtlSeconds * 1000);
    await this.prisma.refreshToken.create({
      data: { loginId, tokenHash: hashRefreshToken(refreshToken), expiresAt: refreshTokenExpiresAt },
    });
    const access = await this.tokens.issue(userId, loginId);
    return { userId, ...access, refreshToken, refreshTokenExpiresAt };
  }
}

function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}
