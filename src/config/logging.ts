import { z } from "zod";
import type { Environment } from "./app-env.ts";
import { flag, refuse } from "./variables.ts";

export const loggingConfig = ({ env }: Environment) =>
  z
    .object({
      LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
      LOG_PRETTY: flag,
    })
    .transform((variables, ctx) => {
      if (env === "production" && (variables.LOG_LEVEL === "debug" || variables.LOG_LEVEL === "trace")) {
        refuse(
          ctx,
          "LOG_LEVEL",
          `"${variables.LOG_LEVEL}" is refused in production: libraries log request details at that level that the ` +
            "redaction list does not know about, and the volume hides real problems; use info (or debug in staging)",
        );
      }
      return {
        logLevel: variables.LOG_LEVEL,
        /** Human-readable logs (pino-pretty, a dev dependency) instead of JSON lines; development only by default. */
        logPretty: variables.LOG_PRETTY ?? env === "development",
      };
    });
