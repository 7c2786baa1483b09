import { randomUUID } from "node:crypto";
import { SignJWT, errors as joseErrors, jwtVerify } from "jose";

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

export interface TokenClaims {
  userId: string;
  /** The login (refresh-token family) the token was issued to; revoking it ends the token at once. */
  loginId: string;
  tokenId: string;
  expiresAt: Date;
}

export class InvalidTokenError extends Error {
  constructor(readonly reason: "malformed" | "expired" | "invalid" | "revoked") {
    super(`Token ${reason}`);
    this.name = "InvalidTokenError";
  }
}

const ALGORITHM = "HS256";

/** HS256 access tokens carrying `sub`, `sid` (the login), `iat`, `exp` and a unique `jti`. */
export class TokenService {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(userId: string, loginId: string): Promise<IssuedToken> {
    const issuedAt = Math.floor(Date.now() / 1000);
    const expiresAtSeconds = issuedAt + this.ttlSeconds;
    const token = await new SignJWT({ sid: loginId })
      .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
      .setSubject(userId)
      .setJti(randomUUID())
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAtSeconds)
      .sign(this.key);
    return { token, expiresAt: new Date(expiresAtSeconds * 1000) };
  }

  async verify(token: string): Promise<TokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [ALGORITHM],
        requiredClaims: ["sub", "sid", "exp", "iat", "jti"],
      });
      if (typeof payload.sid !== "string") throw new InvalidTokenError("invalid");
      return {
        userId: payload.sub!,
        loginId: payload.sid,
        tokenId: payload.jti!,
        expiresAt: new Date(payload.exp! * 1000),
      };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new InvalidTokenError("expired");
      if (error instanceof joseErrors.JOSEError) throw new InvalidTokenError("invalid");
      throw error;
    }
  }

  /** Accepts the value of an `Authorization` header (or graphql-ws `connectionParams.authorization`). */
  async verifyBearer(header: string): Promise<TokenClaims> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw new InvalidTokenError("malformed");
    return this.verify(match[1]);
  }
}
