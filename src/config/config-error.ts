import type { z } from "zod";
import type { AppEnv } from "./app-env.ts";
import { isRefusal } from "./variables.ts";

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    appEnv?: AppEnv,
  ) {
    const heading = appEnv ? `Refusing to start with APP_ENV=${appEnv}; fix these settings:` : "Invalid configuration:";
    super(`${heading}\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }

  /**
   * Values that do not parse, each with its variable; only when all parse, the values refused where the app runs,
   * under a heading that names a deployed environment (a refusal there is a safety rule, not a typo).
   */
  static fromIssues(issues: z.core.$ZodIssue[], environment: { env: AppEnv; local: boolean }): ConfigError {
    const invalid = issues.filter((issue) => !isRefusal(issue));
    const describe = (issue: z.core.$ZodIssue) => `${issue.path.join(".")}: ${issue.message}`;
    if (invalid.length > 0) return new ConfigError(invalid.map(describe));
    return new ConfigError(issues.map(describe), environment.local ? undefined : environment.env);
  }
}
