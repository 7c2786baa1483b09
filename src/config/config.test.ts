import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./index.ts";

const SECRET = "x".repeat(48);

describe("loadConfig", () => {
  it("runs on embedded defaults with nothing set", () => {
    const config = loadConfig({});
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

  it("refuses production without a strong JWT_SECRET, naming the variable", () => {
    for (const env of [{ APP_ENV: "production" }, { NODE_ENV: "production", JWT_SECRET: "short" }]) {
      expect(() => loadConfig(env)).toThrowError(ConfigError);
      expect(() => loadConfig(env)).toThrowError(/JWT_SECRET/);
    }
    expect(loadConfig({ APP_ENV: "production", JWT_SECRET: SECRET }).env).toBe("production");
  });

  it("reports every invalid variable at once", () => {
    try {
      loadConfig({ PORT: "http", MAX_MESSAGE_CHARS: "-1", LOG_LEVEL: "loud" });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => p.split(":")[0]).sort()).toEqual([
        "LOG_LEVEL",
        "MAX_MESSAGE_CHARS",
        "PORT",
      ]);
    }
  });

  it("treats empty values as unset", () => {
    expect(loadConfig({ DATABASE_URL: "", OPENAI_API_KEY: " " })).toMatchObject({
      database: { url: undefined },
      llm: { apiKey: undefined },
    });
  });
});
