import type { PrismaClient, User } from "../generated/prisma/client.ts";
import type { PasswordHasher } from "../security/passwords.ts";
import type { RateLimits } from "../security/rate-limits.ts";
import type { IssuedToken, TokenService } from "../security/tokens.ts";
import { emailRule, passwordRule } from "../security/input-rules.ts";
import { AppError, parseField } from "./errors.ts";

export interface Credentials {
  email: string;
  password: string;
}

export interface AuthResult extends IssuedToken {
  user: User;
}

const WRONG_CREDENTIALS = "Wrong email or password";

export class AccountService {
  /** Verified against when the email is unknown, so a miss costs the same time as a wrong password. */
  private decoyHash: Promise<string> | undefined;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly passwords: PasswordHasher,
    private readonly tokens: TokenService,
    private readonly limits: RateLimits,
  ) {}

  async register(input: Credentials): Promise<AuthResult> {
    const email = parseField(emailRule, "input.email", input.email);
    const password = parseField(passwordRule, "input.password", input.password);
    const passwordHash = await this.passwords.hash(password);
    const user = await this.prisma.user
      .create({ data: { email, passwordHash } })
      .catch((error: unknown) => {
        if (isUniqueViolation(error)) {
          throw new AppError("BAD_USER_INPUT", "input.email is already registered", { field: "input.email" });
        }
        throw error;
      });
    return { user, ...(await this.tokens.issue(user.id)) };
  }

  async login(input: Credentials): Promise<AuthResult> {
    // Login never explains which half was wrong; a malformed email is simply an unknown one.
    const email = emailRule.safeParse(input.email);
    // Guessing one account's password from many addresses still runs out, per account.
    if (email.success) await this.limits.consume("loginEmail", email.data);
    const user = email.success ? await this.prisma.user.findUnique({ where: { email: email.data } }) : null;
    const hash = user?.passwordHash ?? (await this.decoy());
    const valid = await this.passwords.verify(hash, input.password);
    if (!user || !valid) throw new AppError("UNAUTHENTICATED", WRONG_CREDENTIALS);
    return { user, ...(await this.tokens.issue(user.id)) };
  }

  private decoy(): Promise<string> {
    this.decoyHash ??= this.passwords.hash("decoy-Password-1!");
    return this.decoyHash;
  }
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === "P2002";
}
