import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadEnvFiles } from "./env-files.ts";
import {
  ConfigError,
  configVariables,
  jwtSecretWeakness,
  loadConfig,
  loadDatabaseConfig,
  parseDefaultAppEnvFlag,
} from "./index.ts";

/** What `openssl rand -base64 48` prints. */
const SECRET = "u7J0q2sVYb9kX4WmZ3cR8tLhN1pGfD6yQeA5oHwKiTnBvC0xSjUzMr2lPgE9dF1a";
/** The smallest production configuration that starts. */
const PRODUCTION = { APP_ENV: "production", JWT_SECRET: SECRET, OPENAI_API_KEY: "sk-live" };

describe("loadConfig", () => {
  it("runs development on embedded defaults with nothing else set", () => {
    const config = loadConfig({ APP_ENV: "development" });
    expect(config).toMatchObject({
      env: "development",
      server: { port: 4000, graphiql: true },
      dataDir: "./.data",
      database: { url: undefined },
      auth: { jwtSecret: undefined },
      llm: { apiKey: undefined, model: "gpt-4o-mini" },
      messages: { maxChars: 10_000 },
    });
  });

  it("fails closed when no environment is named: production, refusing to start without its secrets", () => {
    for (const env of [{}, { NODE_ENV: "" }, { NODE_ENV: "prod" }] as Array<Record<string, string>>) {
      expect(() => loadConfig(env)).toThrowError(/^Refusing to start with APP_ENV=production; fix these settings:/);
      expect(refusedVariables(env)).toEqual(["JWT_SECRET", "OPENAI_API_KEY"]);
    }
    const config = loadConfig({ JWT_SECRET: SECRET, OPENAI_API_KEY: "sk-live" });
    expect(config).toMatchObject({
      env: "production",
      server: { graphiql: false, allowedOrigins: [] },
      metricsOpenWithoutToken: false,
    });
    expect(config.schema.fieldSuggestions).toBe(false);
  });

  it("takes the environment from NODE_ENV when APP_ENV is unset and NODE_ENV names one", () => {
    expect(loadConfig({ NODE_ENV: "development" }).env).toBe("development");
    expect(loadConfig({ NODE_ENV: "test" }).env).toBe("test");
    expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: SECRET, OPENAI_API_KEY: "sk-live" }).env).toBe(
      "production",
    );
    expect(loadConfig({ APP_ENV: "development", NODE_ENV: "production" }).env).toBe("development");
  });

  it("reads only the database settings for migrations, needing no secrets", () => {
    expect(loadDatabaseConfig({})).toEqual({ dataDir: "./.data", database: { url: undefined, poolSize: 20 } });
    expect(loadDatabaseConfig({ DATABASE_URL: "postgresql://db/agent", JWT_SECRET: "short" }).database.url).toBe(
      "postgresql://db/agent",
    );
    expect(() => loadDatabaseConfig({ DATABASE_POOL_SIZE: "none" })).toThrowError(ConfigError);
  });

  it("refuses production without a strong JWT_SECRET, naming the variable", () => {
    for (const env of [{ APP_ENV: "production" }, { NODE_ENV: "production", JWT_SECRET: "short" }]) {
      expect(() => loadConfig(env)).toThrowError(ConfigError);
      expect(() => loadConfig(env)).toThrowError(/JWT_SECRET/);
    }
    expect(loadConfig(PRODUCTION).env).toBe("production");
  });

  it("reports every invalid variable at once", () => {
    let problems: string[] = [];
    try {
      loadConfig({ PORT: "http", MAX_MESSAGE_CHARS: "-1", LOG_LEVEL: "loud" });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      problems = (error as ConfigError).problems;
    }
    // Outside the catch: a config that loads leaves `problems` empty and fails here, with a readable diff.
    expect(problems.map((p) => p.split(":")[0]).sort()).toEqual(["LOG_LEVEL", "MAX_MESSAGE_CHARS", "PORT"]);
  });

  it("treats empty values as unset", () => {
    expect(loadConfig({ APP_ENV: "development", DATABASE_URL: "", OPENAI_API_KEY: " " })).toMatchObject({
      database: { url: undefined },
      llm: { apiKey: undefined },
    });
  });
});

/** The problems a ConfigError lists, by variable name. */
function refusedVariables(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((problem) => problem.split(":")[0]!).sort();
    throw error;
  }
  return [];
}

describe("unsafe settings in staging and production", () => {
  it("starts on safe settings, with safe defaults and no warnings beyond the metrics token", () => {
    const config = loadConfig({
      ...PRODUCTION,
      METRICS_TOKEN: `${"m".repeat(8)}etrics-token`,
      DATABASE_URL: "postgresql://db/agent",
    });
    expect(config).toMatchObject({ server: { graphiql: false, allowedOrigins: [] }, logPretty: false });
    expect(config.schema.fieldSuggestions).toBe(false);
    expect(config.warnings).toEqual([]);
  });

  it.each([
    ["missing", undefined],
    ["short", "s3cr3t-but-short"],
    ["the README placeholder", "change-me-change-me-change-me-change-me"],
    ["a docs example", "your-jwt-secret-goes-here-0123456789abcdef"],
    ["the test suite's secret", "test-secret-that-is-long-enough-for-hs256-0123456789"],
    ["one repeated character", "x".repeat(48)],
    ["a repeated word", "abcabcabcabcabcabcabcabcabcabcabcabc"],
    ["a sequence", "abcdefghijklmnopqrstuvwxyz0123456789"],
  ])("refuses a JWT_SECRET that is %s, naming the variable", (_what, secret) => {
    const env: Record<string, string> = { ...PRODUCTION };
    if (secret === undefined) delete env.JWT_SECRET;
    else env.JWT_SECRET = secret;
    expect(refusedVariables(env)).toEqual(["JWT_SECRET"]);
    expect(refusedVariables({ ...env, APP_ENV: "staging" })).toEqual(["JWT_SECRET"]);
  });

  it("accepts generated secrets (base64 and hex) and keeps weak ones usable in development", () => {
    expect(jwtSecretWeakness(SECRET)).toBeUndefined();
    expect(jwtSecretWeakness("9f86d081884c7d659a2feaa0c55ad015")).toBeUndefined(); // openssl rand -hex 16
    expect(loadConfig({ APP_ENV: "development", JWT_SECRET: "x".repeat(48) }).auth.jwtSecret).toBe("x".repeat(48));
    expect(refusedVariables({ APP_ENV: "development", JWT_SECRET: "short" })).toEqual(["JWT_SECRET"]);
  });

  it("refuses wildcard CORS, debug logging and the offline dev model, each by name, all at once", () => {
    const error = (() => {
      try {
        loadConfig({
          APP_ENV: "production",
          JWT_SECRET: "change-me",
          ALLOWED_ORIGINS: "https://app.example.com, *",
          LOG_LEVEL: "debug",
        });
      } catch (caught) {
        return caught as ConfigError;
      }
      throw new Error("loadConfig accepted unsafe settings");
    })();
    expect(error.problems.map((problem) => problem.split(":")[0]).sort()).toEqual([
      "ALLOWED_ORIGINS",
      "JWT_SECRET",
      "LOG_LEVEL",
      "OPENAI_API_KEY",
    ]);
    expect(error.message).toMatch(/^Refusing to start with APP_ENV=production; fix these settings:\n {2}- /);
    expect(error.message).toContain("OPENAI_API_KEY=ollama");
  });

  it("lets staging debug and run the dev model, with a warning", () => {
    const config = loadConfig({ APP_ENV: "staging", JWT_SECRET: SECRET, LOG_LEVEL: "debug", GRAPHIQL: "true" });
    expect(config.logLevel).toBe("debug");
    expect(config.server.graphiql).toBe(true);
    expect(config.warnings.join("\n")).toMatch(/OPENAI_API_KEY is not set/);
    expect(config.warnings.join("\n")).toMatch(/GRAPHIQL=true in staging/);
    expect(refusedVariables({ APP_ENV: "staging", JWT_SECRET: SECRET, ALLOWED_ORIGINS: "*" })).toEqual([
      "ALLOWED_ORIGINS",
    ]);
  });

  it("refuses a short METRICS_TOKEN anywhere and reads the lifecycle settings", () => {
    expect(refusedVariables({ APP_ENV: "development", METRICS_TOKEN: "short" })).toEqual(["METRICS_TOKEN"]);
    expect(refusedVariables({ ...PRODUCTION, METRICS_TOKEN: "short" })).toEqual(["METRICS_TOKEN"]);
    expect(
      loadConfig({ APP_ENV: "development", METRICS_TOKEN: "a-long-enough-token", SHUTDOWN_GRACE_MS: "2500" }),
    ).toMatchObject({
      metricsToken: "a-long-enough-token",
      lifecycle: { shutdownGraceMs: 2500 },
    });
    expect(loadConfig({ APP_ENV: "development" }).lifecycle.shutdownGraceMs).toBe(10_000);
  });

  it("closes /metrics without METRICS_TOKEN in staging and production, and says how to open it", () => {
    for (const env of [PRODUCTION, { ...PRODUCTION, APP_ENV: "staging" }]) {
      const config = loadConfig(env);
      expect(config.metricsOpenWithoutToken).toBe(false);
      expect(config.warnings.join("\n")).toMatch(
        /METRICS_TOKEN is not set: \/metrics is refused \(403\).*set METRICS_TOKEN.*Authorization: Bearer/,
      );
    }
    for (const appEnv of ["development", "test"]) {
      expect(loadConfig({ APP_ENV: appEnv })).toMatchObject({ metricsOpenWithoutToken: true, warnings: [] });
    }
  });
});

describe("loadEnvFiles", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const write = async (files: Record<string, string>) => {
    dir = await mkdtemp(join(tmpdir(), "env-files-"));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    return dir;
  };

  it("merges .env < .env.<APP_ENV> < .env.local < .env.<APP_ENV>.local < the real environment", async () => {
    const cwd = await write({
      ".env": "A=env\nB=env\nC=env\nD=env\nE=env\n",
      ".env.staging": "B=staging\nC=staging\nD=staging\nE=staging\n",
      ".env.local": "C=local\nD=local\nE=local\n",
      ".env.staging.local": "D=staging-local\nE=staging-local\n",
      ".env.production": "A=never-read\n",
    });
    const loaded = loadEnvFiles({ dir: cwd, env: { APP_ENV: "staging", E: "real", F: "" } });
    expect(loaded.files).toEqual([".env", ".env.staging", ".env.local", ".env.staging.local"]);
    expect(loaded.env).toMatchObject({ A: "env", B: "staging", C: "local", D: "staging-local", E: "real", F: "" });
  });

  it("takes APP_ENV from the environment, else .env.local / .env, else NODE_ENV", async () => {
    const cwd = await write({
      ".env": "APP_ENV=staging\n",
      ".env.staging": "FROM=staging\n",
      ".env.production": "FROM=production\n",
    });
    expect(loadEnvFiles({ dir: cwd, env: {} })).toMatchObject({ appEnv: "staging", env: { FROM: "staging" } });
    expect(loadEnvFiles({ dir: cwd, env: { APP_ENV: "production" } })).toMatchObject({
      appEnv: "production",
      env: { FROM: "production" },
    });
    const bare = await write({ ".env.production": "FROM=production\n" });
    expect(loadEnvFiles({ dir: bare, env: { NODE_ENV: "production" } }).env).toMatchObject({
      APP_ENV: "production",
      FROM: "production",
    });
  });

  it("fails closed to production when nothing names the environment, unless the command asks for another", async () => {
    const bare = await write({ ".env.production": "FROM=production\n", ".env.development": "FROM=development\n" });
    expect(loadEnvFiles({ dir: bare, env: {} })).toMatchObject({
      appEnv: "production",
      env: { APP_ENV: "production", FROM: "production" },
    });
    // `npm start` / `npm run dev`: --default-app-env=development (main.ts).
    const asked = { dir: bare, defaultAppEnv: "development" } as const;
    expect(loadEnvFiles({ ...asked, env: {} })).toMatchObject({ appEnv: "development", env: { FROM: "development" } });
    expect(loadEnvFiles({ ...asked, env: { APP_ENV: "production" } }).appEnv).toBe("production");
    expect(loadEnvFiles({ ...asked, env: { NODE_ENV: "production" } }).appEnv).toBe("production");
    expect(loadEnvFiles({ ...asked, env: { NODE_ENV: "banana" } }).appEnv).toBe("development");
    const declared = await write({ ".env": "APP_ENV=staging\n" });
    expect(loadEnvFiles({ dir: declared, env: {}, defaultAppEnv: "development" }).appEnv).toBe("staging");
  });

  it("skips .env.local in test and never turns an unknown APP_ENV into a file name", async () => {
    const cwd = await write({
      ".env.local": "X=local\n",
      ".env.test": "X=test\n",
      ".env.test.local": "Y=test-local\n",
    });
    expect(loadEnvFiles({ dir: cwd, env: { APP_ENV: "test" } }).env).toMatchObject({ X: "test", Y: "test-local" });
    const odd = loadEnvFiles({ dir: cwd, env: { APP_ENV: "../etc/passwd" } });
    expect(odd.files).toEqual([".env.local"]);
    expect(() => loadConfig(odd.env)).toThrowError(/APP_ENV/);
  });

  it("parses dotenv syntax with Node's own parser", async () => {
    const cwd = await write({
      ".env": "# comment\nexport PLAIN=1\nQUOTED=\"a b # not a comment\"\nSINGLE='x'\nEMPTY=\n",
    });
    expect(loadEnvFiles({ dir: cwd, env: {} }).env).toMatchObject({
      PLAIN: "1",
      QUOTED: "a b # not a comment",
      SINGLE: "x",
      EMPTY: "",
    });
  });

  it("holds no secrets in the committed per-environment files, and each of them starts", async () => {
    const repo = join(import.meta.dirname, "../..");
    for (const appEnv of ["development", "test", "staging", "production"]) {
      const { env, files } = loadEnvFiles({
        dir: repo,
        env: { APP_ENV: appEnv, JWT_SECRET: SECRET, OPENAI_API_KEY: "sk-live" },
      });
      expect(files).toContain(`.env.${appEnv}`);
      for (const name of files.filter((file) => !file.endsWith(".local") && file !== ".env")) {
        const text = await import("node:fs").then((fs) => fs.readFileSync(join(repo, name), "utf8"));
        expect(text, name).not.toMatch(
          /^\s*(JWT_SECRET|OPENAI_API_KEY|LLM_FALLBACK_API_KEY|LANGFUSE_SECRET_KEY|METRICS_TOKEN|DATABASE_URL|REDIS_URL)\s*=/m,
        );
      }
      expect(loadConfig(env).env).toBe(appEnv);
    }
  });
});

describe("one decision on the environment", () => {
  it("calls development and test local, staging and production not", () => {
    expect(loadConfig({ APP_ENV: "development" }).local).toBe(true);
    expect(loadConfig({ APP_ENV: "test" }).local).toBe(true);
    expect(loadConfig({ ...PRODUCTION, APP_ENV: "staging" }).local).toBe(false);
    expect(loadConfig(PRODUCTION).local).toBe(false);
  });

  it("chooses the same APP_ENV in loadEnvFiles and loadConfig", async () => {
    const empty = await mkdtemp(join(tmpdir(), "env-files-"));
    try {
      for (const variables of [
        {},
        { NODE_ENV: "test" },
        { NODE_ENV: "staging" },
        { NODE_ENV: "banana" },
        { APP_ENV: "test", NODE_ENV: "production" },
      ]) {
        const chosen = loadEnvFiles({ dir: empty, env: variables }).appEnv;
        const secrets = { JWT_SECRET: SECRET, OPENAI_API_KEY: "sk-live" };
        expect(loadConfig({ ...variables, ...secrets }).env, JSON.stringify(variables)).toBe(chosen);
      }
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it("refuses a --default-app-env that names no environment", () => {
    expect(parseDefaultAppEnvFlag(undefined)).toBeUndefined();
    expect(parseDefaultAppEnvFlag("development")).toBe("development");
    expect(() => parseDefaultAppEnvFlag("dev")).toThrowError(
      /^Invalid configuration:\n {2}- --default-app-env: "dev" is not one of development, test, staging, production$/,
    );
  });
});

describe(".env.example", () => {
  const repo = join(import.meta.dirname, "../..");
  /** Variables named in `KEY=` lines, commented out or not, outside the sections the app does not read. */
  const variablesIn = (text: string) => {
    const found = new Set<string>();
    let appReads = true;
    for (const line of text.split("\n")) {
      const heading = /^# --- (.*?) -*$/.exec(line)?.[1];
      if (heading !== undefined) appReads = !/not by the app|never reads/.test(heading);
      const variable = /^#? ?([A-Z][A-Z0-9_]*)=/.exec(line)?.[1];
      if (variable && appReads) found.add(variable);
    }
    return [...found].sort();
  };

  it("lists every variable the config reads, and none it does not", () => {
    const documented = variablesIn(readFileSync(join(repo, ".env.example"), "utf8"));
    expect(configVariables.length).toBeGreaterThan(70);
    expect(documented).toEqual([...configVariables].sort());
  });

  it("is the only list: the committed per-environment files set only variables the config reads", () => {
    for (const appEnv of ["development", "test", "staging", "production"]) {
      const set = variablesIn(readFileSync(join(repo, `.env.${appEnv}`), "utf8"));
      expect(
        set.filter((variable) => !configVariables.includes(variable)),
        `.env.${appEnv}`,
      ).toEqual([]);
    }
  });
});
