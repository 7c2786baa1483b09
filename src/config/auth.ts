// Sign-in: the JWT signing secret, token lifetimes and password hashing cost.
import { z } from "zod";
import type { Environment } from "./app-env.ts";
import { optionalString, positiveInt, refuse } from "./variables.ts";

export const authConfig = ({ env, local }: Environment) =>
  z
    .object({
      JWT_SECRET: optionalString,
      ACCESS_TOKEN_TTL_SECONDS: positiveInt(900),
      REFRESH_TOKEN_TTL_SECONDS: positiveInt(30 * 24 * 3600),
      ARGON2_MEMORY_KIB: positiveInt(65536),
      ARGON2_TIME_COST: positiveInt(3),
      ARGON2_PARALLELISM: positiveInt(1),
    })
    .transform((variables, ctx) => {
      const secret = variables.JWT_SECRET;
      if (!secret) {
        if (!local)
          refuse(
            ctx,
            "JWT_SECRET",
            `required in ${env}: at least 32 random characters (e.g. \`openssl rand -base64 48\`)`,
          );
      } else {
        const weakness = jwtSecretWeakness(secret);
        // A short secret is refused everywhere; a guessable one only where tokens protect real accounts.
        if (weakness === "short")
          refuse(ctx, "JWT_SECRET", "must be at least 32 characters (e.g. `openssl rand -base64 48`)");
        else if (weakness && !local) {
          refuse(
            ctx,
            "JWT_SECRET",
            `${weakness}; anyone who guesses it can sign tokens for any user (use \`openssl rand -base64 48\`)`,
          );
        }
      }
      return {
        auth: {
          /** Undefined only in a local app (development/test): the app then keeps a generated secret in `dataDir`. */
          jwtSecret: secret,
          accessTokenTtlSeconds: variables.ACCESS_TOKEN_TTL_SECONDS,
          /** A refresh token is single-use; each use returns a new one valid this long. */
          refreshTokenTtlSeconds: variables.REFRESH_TOKEN_TTL_SECONDS,
          argon2: {
            memoryCost: variables.ARGON2_MEMORY_KIB,
            timeCost: variables.ARGON2_TIME_COST,
            parallelism: variables.ARGON2_PARALLELISM,
          },
        },
      };
    });

/** Values people paste from docs and examples; a secret containing one of these was not generated. */
const PLACEHOLDER_SECRET =
  /change.?me|changeit|replace.?me|placeholder|example|your.?(jwt.?)?secret|(test|dev|jwt|my|super).?secret|dummy|insecure|default|xxxxxxxx|0{8}|1234567/i;

/**
 * Why a JWT secret is unfit, or undefined. "short" under 32 characters; otherwise a known placeholder or a
 * low-entropy string: few distinct characters, under ~96 bits by character frequency (Shannon), or mostly runs
 * (`aaaa`, `abcd`). A heuristic that refuses the usual mistakes; `openssl rand -base64 48` passes it by far.
 */
export function jwtSecretWeakness(secret: string): "short" | string | undefined {
  if (secret.length < 32) return "short";
  if (PLACEHOLDER_SECRET.test(secret)) return "is a placeholder, not a generated secret";
  const counts = new Map<string, number>();
  for (const char of secret) counts.set(char, (counts.get(char) ?? 0) + 1);
  const length = [...secret].length;
  const bits = [...counts.values()].reduce((sum, n) => sum - n * Math.log2(n / length), 0);
  let runs = 0;
  for (let i = 1; i < secret.length; i++) {
    const step = secret.charCodeAt(i) - secret.charCodeAt(i - 1);
    if (step >= -1 && step <= 1) runs++;
  }
  if (counts.size < 10 || bits < 96 || runs > secret.length / 2)
    return "has too little randomness (repeated or sequential characters)";
  return undefined;
}
