import { randomBytes } from "node:crypto";
import type { PrismaClient, User } from "../generated/prisma/client.ts";
import type { PasswordHasher } from "../security/passwords.ts";
import type { RateLimits } from "../security/rate-limits.ts";
import { emailRule, passwordRule } from "../security/input-rules.ts";
import { AppError, parseField } from "./errors.ts";
import type { Credentials as IssuedCredentials, LoginService } from "./logins.ts";

export interface Credentials {
  email: string;
  password: string;
}

export interface AuthResult extends IssuedCredentials {
  user: User;
}

const WRONG_CREDENTIALS = "Wrong email or password";

export class AccountService {
  /**
   * Verified against when the email is unknown, so a miss costs the same time as a wrong password.
   * Made up front: made lazily, the first miss would take two hashes' time and tell.
   */
  private readonly decoyHash: Promise<string>;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly passwords: PasswordHasher,
    private readonly logins: LoginService,
    private readonly limits: RateLimits,
  ) {
    this.decoyHash = passwords.hash(randomBytes(16).toString("base64url"));
    this.decoyHash.catch(() => undefined);
  }

  async register(input: Credentials): Promise<AuthResult> {
    const email = parseField(emailRule, "input.email", input.email);
    const password = parseField(passwordRule, "input.password", input.password);
    const passwordHash = await this.passwords.hash(password);
    const user = await this.prisma.user.create({ data: { email, passwordHash } }).catch((error: unknown) => {
      if (isUniqueViolation(error)) {
        throw new AppError("BAD_USER_INPUT", "input.email is already registered", { field: "input.email" });
      }
      throw error;
    });
    return { user, ...(await this.logins.start(user.id)) };
  }

  /**
   * `client.address` is where the attempt comes from (the same address the per-address limits use). Failed
   * attempts are counted per account *and* address: a stranger's wrong guesses run out for the stranger only, never
   * locking the owner out from elsewhere, and the owner's own failures are forgotten once the password is right.
   */
  async login(input: Credentials, client: { address: string }): Promise<AuthResult> {
    // Login never explains which half was wrong; a malformed email is simply an unknown one.
    const email = emailRule.safeParse(input.email);
    // Taken before the check, not after a failure: parallel guesses cannot all pass a nearly spent allowance.
    const attempts = email.success ? JSON.stringify([email.data, client.address]) : undefined;
    if (attempts) await this.limits.consume("loginEmail", attempts);
    const user = email.success ? await this.prisma.user.findUnique({ where: { email: email.data } }) : null;
    const hash = user?.passwordHash ?? (await this.decoyHash);
    const valid = await this.passwords.verify(hash, input.password);
    if (!user || !valid) throw new AppError("UNAUTHENTICATED", WRONG_CREDENTIALS);
    if (attempts) await this.limits.reset("loginEmail", attempts);
    if (this.passwords.needsRehash(user.passwordHash)) {
      // ARGON2_* changed since this hash was made: the password is at hand now, so move it to the new cost.
      const passwordHash = await this.passwords.hash(input.password);
      await this.prisma.user.update({ where: { id: user.id }, data: { passwordHash } });
    }
    return { user, ...(await this.logins.start(user.id)) };
  }
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === "P2002";
}
