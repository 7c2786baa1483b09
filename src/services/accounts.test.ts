// Login's answer must not depend on whether the email exists: same error, and the same argon2 work.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testEnvironment } from "../../test/support/test-app.ts";
import { loadConfig } from "../config/index.ts";
import { openDatabase, type Database } from "../persistence/database.ts";
import { PasswordHasher } from "../security/passwords.ts";
import { RateLimits } from "../security/rate-limits.ts";
import { MemoryBroadcast } from "../persistence/events/broadcast.ts";
import { RevocationFeed } from "../security/revocations.ts";
import { TokenService } from "../security/tokens.ts";
import { AccountService } from "./accounts.ts";
import type { AppError } from "./errors.ts";
import { LoginService } from "./logins.ts";

const failure = (attempt: Promise<unknown>) =>
  attempt.then(
    () => {
      throw new Error("expected the login to fail");
    },
    (error: unknown) => error as AppError,
  );

/** The real hasher, counting the verifications it runs. */
class CountingHasher extends PasswordHasher {
  verifications = 0;
  override async verify(hash: string, password: string): Promise<boolean> {
    this.verifications++;
    return super.verify(hash, password);
  }
}

const FAST = { memoryCost: 8192, timeCost: 2, parallelism: 1 };
const HERE = { address: "192.0.2.1" };
const PASSWORD = "Correct-Horse-9";
let database: Database;
let cleanup: () => Promise<void>;
let logins: LoginService;
const unlimited = { points: 1_000_000, windowSeconds: 60 };
const limits = new RateLimits(
  { auth: unlimited, loginEmail: unlimited, send: unlimited, cost: unlimited, apiKey: unlimited },
  { keyPrefix: "t" },
);

beforeAll(async () => {
  const environment = await testEnvironment();
  cleanup = environment.cleanup;
  const config = loadConfig(environment.env);
  database = await openDatabase({ ...config.database, dataDir: config.dataDir });
  const tokens = new TokenService("accounts-test-secret-0123456789-0123456789", 900);
  logins = new LoginService(database.prisma, tokens, new RevocationFeed(new MemoryBroadcast()), 3600);
});
afterAll(async () => {
  await database?.close();
  await cleanup?.();
});

describe("AccountService.login", () => {
  it("runs one argon2 verification and gives the same error for an unknown email as for a wrong password", async () => {
    const hasher = new CountingHasher(FAST);
    const accounts = new AccountService(database.prisma, hasher, logins, limits);
    const email = `known-${Date.now()}@example.com`;
    await accounts.register({ email, password: PASSWORD });

    const wrongPassword = await failure(accounts.login({ email, password: "Wrong-Horse-9" }, HERE));
    const unknownEmail = await failure(
      accounts.login({ email: `nobody-${Date.now()}@example.com`, password: PASSWORD }, HERE),
    );
    const malformedEmail = await failure(accounts.login({ email: "not an email", password: PASSWORD }, HERE));
    expect(hasher.verifications).toBe(3);
    for (const error of [unknownEmail, malformedEmail]) {
      expect(error).toMatchObject({ code: wrongPassword.code, message: wrongPassword.message });
    }
  });

  it("upgrades a hash made at an older argon2 cost at the next successful login", async () => {
    const email = `upgrade-${Date.now()}@example.com`;
    await new AccountService(database.prisma, new PasswordHasher(FAST), logins, limits).register({
      email,
      password: PASSWORD,
    });
    const stronger = { ...FAST, timeCost: 3 };
    const accounts = new AccountService(database.prisma, new PasswordHasher(stronger), logins, limits);
    await accounts.login({ email, password: PASSWORD }, HERE);
    const { passwordHash } = await database.prisma.user.findUniqueOrThrow({ where: { email } });
    expect(passwordHash).toContain("t=3");
    expect(new PasswordHasher(stronger).needsRehash(passwordHash)).toBe(false);
    // And the upgraded hash still signs in.
    await expect(accounts.login({ email, password: PASSWORD }, HERE)).resolves.toMatchObject({ user: { email } });
  });
});

describe("AccountService.login attempt limit", () => {
  const LIMIT = 2;
  const limited = () =>
    new RateLimits(
      {
        auth: unlimited,
        loginEmail: { points: LIMIT, windowSeconds: 900 },
        send: unlimited,
        cost: unlimited,
        apiKey: unlimited,
      },
      { keyPrefix: "t" },
    );

  it("counts failures per account and address, so a stranger's guesses never lock the owner out", async () => {
    const accounts = new AccountService(database.prisma, new PasswordHasher(FAST), logins, limited());
    const email = `owner-${Date.now()}@example.com`;
    await accounts.register({ email, password: PASSWORD });
    const stranger = { address: "203.0.113.9" };
    for (let i = 0; i < LIMIT; i++)
      expect((await failure(accounts.login({ email, password: `Guess-${i}-Aa1!` }, stranger))).code).toBe(
        "UNAUTHENTICATED",
      );
    // Refused before the password is checked, so the right one teaches the stranger nothing.
    await expect(
      accounts.login({ email: ` ${email.toUpperCase()}`, password: PASSWORD }, stranger),
    ).rejects.toMatchObject({ bucket: "loginEmail" });
    await expect(accounts.login({ email, password: PASSWORD }, { address: "198.51.100.7" })).resolves.toMatchObject({
      user: { email },
    });
  });

  it("forgets an address's failures once the password was right there", async () => {
    const accounts = new AccountService(database.prisma, new PasswordHasher(FAST), logins, limited());
    const email = `typo-${Date.now()}@example.com`;
    await accounts.register({ email, password: PASSWORD });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < LIMIT - 1; i++) await failure(accounts.login({ email, password: "Wrong-Horse-9" }, HERE));
      await expect(accounts.login({ email, password: PASSWORD }, HERE)).resolves.toMatchObject({ user: { email } });
    }
  });
});
