import argon2 from "argon2";

export interface Argon2Options {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** argon2id; the password is hashed exactly as given (never trimmed, escaped or normalised). */
export class PasswordHasher {
  constructor(private readonly options: Argon2Options) {}

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id, ...this.options });
  }

  /** True when `hash` was made with other parameters than the configured ones (upgrade it at next login). */
  needsRehash(hash: string): boolean {
    return argon2.needsRehash(hash, this.options);
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  }
}
