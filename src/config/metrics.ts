// Who may read /metrics.
import { z } from "zod";
import type { Environment } from "./app-env.ts";
import { optionalString, refuse } from "./variables.ts";

export const metricsConfig = ({ env, local }: Environment) =>
  z.object({ METRICS_TOKEN: optionalString }).transform((variables, ctx) => {
    const token = variables.METRICS_TOKEN;
    if (token && token.length < 16) refuse(ctx, "METRICS_TOKEN", "must be at least 16 characters");
    const warnings: string[] = [];
    if (!local && !token) {
      warnings.push(
        `METRICS_TOKEN is not set: /metrics is refused (403) in ${env}; to scrape it, set METRICS_TOKEN ` +
          "(at least 16 random characters, e.g. `openssl rand -hex 24`) and send `Authorization: Bearer <token>`",
      );
    }
    return {
      /** Set: `/metrics` answers only `Authorization: Bearer <token>`. */
      metricsToken: token,
      /** Without a token: `/metrics` open to anyone in a local app (development/test), else refused. */
      metricsOpenWithoutToken: local,
      warnings,
    };
  });
