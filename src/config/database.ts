// Where the data lives: PostgreSQL when DATABASE_URL is set, else embedded PGlite under DATA_DIR (which also keeps
// a local app's generated JWT secret).
import { z } from "zod";
import type { Environment } from "./app-env.ts";
import { optionalString, positiveInt } from "./variables.ts";

export const databaseConfig = ({ env }: Environment) =>
  z
    .object({
      DATA_DIR: z.string().trim().min(1).default("./.data"),
      DATABASE_URL: optionalString,
      DATABASE_POOL_SIZE: positiveInt(20),
    })
    .transform((variables) => {
      const warnings: string[] = [];
      if (env === "production" && !variables.DATABASE_URL) {
        warnings.push(
          `DATABASE_URL is not set: embedded PGlite in ${variables.DATA_DIR} (one instance only; back that directory up)`,
        );
      }
      return {
        dataDir: variables.DATA_DIR,
        database: { url: variables.DATABASE_URL, poolSize: variables.DATABASE_POOL_SIZE },
        warnings,
      };
    });
