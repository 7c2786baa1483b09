// Which environment the app runs as: decided here only, for the files env-files.ts reads and for the defaults and
// refusals of every concern in loadConfig.
import { z } from "zod";
import { ConfigError } from "./config-error.ts";
import { optionalString } from "./variables.ts";

const appEnvs = ["development", "test", "staging", "production"] as const;
export type AppEnv = (typeof appEnvs)[number];

export function isAppEnv(value: string | undefined): value is AppEnv {
  return (appEnvs as readonly string[]).includes(value ?? "");
}

/** Where APP_ENV and NODE_ENV may be set, highest precedence first: the real environment, `.env.local`, `.env`. */
type Layers<Named extends string> = ReadonlyArray<{ APP_ENV?: Named | undefined; NODE_ENV?: string | undefined }>;

/**
 * The APP_ENV that applies: the first non-empty APP_ENV, else the first NODE_ENV set when it names an environment,
 * else the command's default (`npm start` and `npm run dev` pass `--default-app-env=development`), else production.
 * An environment nobody named fails closed: secrets required, errors masked, no GraphiQL, no CORS "*".
 * An APP_ENV that names no environment is returned as it is: loadConfig refuses it, env-files reads no file for it.
 */
export function chooseAppEnv<Named extends string>(
  layers: Layers<Named>,
  commandDefault: AppEnv = "production",
): Named | AppEnv {
  const named = layers.map((layer) => layer.APP_ENV).find((value) => value !== undefined && value !== "");
  if (named !== undefined) return named;
  const nodeEnv = layers.map((layer) => layer.NODE_ENV).find((value) => value !== undefined);
  return isAppEnv(nodeEnv) ? nodeEnv : commandDefault;
}

/** A command's `--default-app-env` flag: undefined when absent, refused when it names no environment. */
export function parseDefaultAppEnvFlag(value: string | undefined): AppEnv | undefined {
  if (value !== undefined && !isAppEnv(value)) {
    throw new ConfigError([`--default-app-env: "${value}" is not one of ${appEnvs.join(", ")}`]);
  }
  return value;
}

export const environmentConfig = z
  .object({
    APP_ENV: z.enum(appEnvs).optional(),
    /** Only names the environment when APP_ENV is unset (libraries read it too). */
    NODE_ENV: optionalString,
  })
  .transform((variables) => {
    const env = chooseAppEnv([variables]);
    return {
      env,
      /**
       * development or test: a developer's machine or the test suite, where tokens protect no real account. Local
       * apps may generate their JWT secret, show GraphiQL, error details and field suggestions, answer any origin
       * and serve /metrics without a token; staging and production refuse or hide all of these unless configured.
       */
      local: env === "development" || env === "test",
    };
  });

export type Environment = z.output<typeof environmentConfig>;
