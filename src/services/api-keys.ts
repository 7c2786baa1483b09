// API keys: long-lived credentials a user hands to a partner's backend. A key authenticates as its owner, but it is
// no sign-in: it cannot create or revoke keys, log out or refresh tokens (FORBIDDEN), and it has its own rate-limit
// bucket. Only the SHA-256 of the secret is stored; the secret is returned once, by create.
import { createHash, randomBytes } from "node:crypto";
import type { ApiKey, PrismaClient } from "../generated/prisma/client.ts";
import { apiKeyNameRule } from "../security/input-rules.ts";
import type { RevocationFeed } from "../security/revocations.ts";
import { InvalidTokenError } from "../security/tokens.ts";
import type { Viewer } from "../security/viewer.ts";
import { API_KEY_FORBIDDEN, AppError, notFound, parseField } from "./errors.ts";

/** Every secret starts with this, so a leaked one is recognisable (secret scanners, logs). */
const API_KEY_PREFIX = "agk_";
/** `agk_` + 32 random bytes in base64url: 256 bits, so nobody guesses one and SHA-256 needs no salt or stretching. */
const SECRET_SHAPE = /^agk_[A-Za-z0-9_-]{43}$/;
/** Characters of the secret kept in clear (`agk_` + 8): enough to tell keys apart, 48 of 256 bits, useless to sign in. */
const SHOWN_PREFIX_LENGTH = API_KEY_PREFIX.length + 8;
/** Unrevoked keys one user may hold; a cap on what one account can make the database store. */
const MAX_ACTIVE_API_KEYS = 50;
/** `lastUsedAt` is written when it is older than this: at most one write per key and minute, not one per request. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** A key without expiry: subscriptions it opens are then bounded only by setTimeout's ceiling (and revocation). */
const NEVER = new Date(8.64e15);

export interface CreatedApiKey {
  apiKey: ApiKey;
  /** Shown once; only its hash is kept. */
  secret: string;
}

export class ApiKeyService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly revocations: RevocationFeed,
  ) {}

  async create(viewer: Viewer, input: { name: string; expiresAt?: Date | null }): Promise<CreatedApiKey> {
    if (viewer.apiKeyId) throw new AppError("FORBIDDEN", API_KEY_FORBIDDEN);
    const name = parseField(apiKeyNameRule, "input.name", input.name);
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw new AppError("BAD_USER_INPUT", "input.expiresAt must be in the future", { field: "input.expiresAt" });
    }
    const active = await this.prisma.apiKey.count({ where: { userId: viewer.userId, revokedAt: null } });
    if (active >= MAX_ACTIVE_API_KEYS) {
      throw new AppError(
        "BAD_USER_INPUT",
        `At most ${MAX_ACTIVE_API_KEYS} API keys may be active at once; revoke one first`,
        {
          field: "input",
        },
      );
    }
    const secret = API_KEY_PREFIX + randomBytes(32).toString("base64url");
    const apiKey = await this.prisma.apiKey.create({
      data: {
        userId: viewer.userId,
        name,
        prefix: secret.slice(0, SHOWN_PREFIX_LENGTH),
        secretHash: hashSecret(secret),
        expiresAt: input.expiresAt ?? null,
      },
    });
    return { apiKey, secret };
  }

  /**
   * Revokes one of the viewer's keys at once: new requests with it fail on every instance (each request reads the
   * key), and its open subscriptions and graphql-ws sockets end through the revocation feed. Revoking a revoked key
   * returns it unchanged; a foreign or unknown id is NOT_FOUND.
   */
  async revoke(viewer: Viewer, apiKeyId: string): Promise<ApiKey> {
    if (viewer.apiKeyId) throw new AppError("FORBIDDEN", API_KEY_FORBIDDEN);
    const { count } = await this.prisma.apiKey.updateMany({
      where: { id: apiKeyId, userId: viewer.userId, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    const apiKey = await this.prisma.apiKey.findFirst({ where: { id: apiKeyId, userId: viewer.userId } });
    if (!apiKey) throw notFound("API key");
    if (count > 0) await this.revocations.publish([apiKey.id]);
    return apiKey;
  }

  /**
   * The viewer an `x-api-key` value stands for. Unknown, malformed, expired and revoked keys all throw the same
   * InvalidTokenError, so a caller learns nothing about which. Read from the database on every call (one indexed
   * lookup), so a revocation needs no cache to reach.
   */
  async authenticate(secret: string): Promise<Viewer> {
    if (!SECRET_SHAPE.test(secret)) throw new InvalidTokenError("invalid");
    const key = await this.prisma.apiKey.findUnique({
      where: { secretHash: hashSecret(secret) },
      select: { id: true, userId: true, expiresAt: true, revokedAt: true, lastUsedAt: true },
    });
    const now = Date.now();
    if (!key || key.revokedAt || (key.expiresAt && key.expiresAt.getTime() <= now))
      throw new InvalidTokenError("revoked");
    if (!key.lastUsedAt || key.lastUsedAt.getTime() <= now - LAST_USED_RESOLUTION_MS) {
      await this.prisma.apiKey.updateMany({
        // Conditional, so concurrent first requests write once between them.
        where: {
          id: key.id,
          OR: [{ lastUsedAt: null }, { lastUsedAt: { lte: new Date(now - LAST_USED_RESOLUTION_MS) } }],
        },
        data: { lastUsedAt: new Date(now) },
      });
    }
    return { userId: key.userId, credentialId: key.id, apiKeyId: key.id, expiresAt: key.expiresAt ?? NEVER };
  }
}

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("base64url");
}
