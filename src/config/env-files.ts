// Optional configuration files, merged under the real environment. Kept apart from `loadConfig`, which stays a
// pure function of the variables it is given: main.ts (and scripts) call this first and pass the result on.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnv } from "node:util";
import { type AppEnv, chooseAppEnv, isAppEnv } from "./app-env.ts";

export interface LoadedEnv {
  /** The real environment over the files: what `loadConfig` should read. */
  env: Record<string, string | undefined>;
  /** The APP_ENV the files were chosen for. */
  appEnv: string;
  /** The files that existed and were read, lowest precedence first (names only: values may be secret). */
  files: string[];
}

/**
 * Reads, lowest precedence first: `.env`, `.env.<APP_ENV>`, `.env.local`, `.env.<APP_ENV>.local`. A variable set
 * in the real environment always wins, even when it is empty. `.env.local` is skipped when APP_ENV=test, so tests
 * do not depend on one developer's machine. Parsed by Node's own `util.parseEnv` (dotenv syntax: `KEY=value`,
 * quotes, `export`, `#` comments; no `${VAR}` expansion).
 *
 * APP_ENV itself is chosen by `chooseAppEnv` from the real environment, `.env.local` and `.env` (in that order),
 * and `defaultAppEnv`, the command's default (production when absent: fail closed).
 */
export function loadEnvFiles(
  options: { dir?: string; env?: Record<string, string | undefined>; defaultAppEnv?: AppEnv } = {},
): LoadedEnv {
  const { dir = process.cwd(), env = process.env } = options;
  const files: string[] = [];
  const read = (name: string): Record<string, string> => {
    let text: string;
    try {
      text = readFileSync(join(dir, name), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw error;
    }
    files.push(name);
    return parseEnv(text) as Record<string, string>;
  };

  const base = read(".env");
  // Peeked at only to learn APP_ENV; read for real (in its place in the order) below.
  const appEnv = chooseAppEnv([env, peek(dir, ".env.local"), base], options.defaultAppEnv);
  // Only known names become file names: APP_ENV must never point the loader at an arbitrary path.
  const known = isAppEnv(appEnv);
  const merged = {
    ...base,
    ...(known ? read(`.env.${appEnv}`) : {}),
    ...(appEnv === "test" ? {} : read(".env.local")),
    ...(known ? read(`.env.${appEnv}.local`) : {}),
  };
  const real = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
  return { env: { ...merged, ...real, APP_ENV: appEnv }, appEnv, files };
}

function peek(dir: string, name: string): Record<string, string> {
  try {
    return parseEnv(readFileSync(join(dir, name), "utf8")) as Record<string, string>;
  } catch {
    return {};
  }
}
