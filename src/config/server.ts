// The HTTP server: where it listens, which browser origins may call it, how large a request may be, GraphiQL.
import { z } from "zod";
import type { Environment } from "./app-env.ts";
import { flag, optionalString, positiveInt, refuse } from "./variables.ts";

export const serverConfig = ({ env, local }: Environment) =>
  z
    .object({
      HOST: optionalString,
      PORT: z.coerce.number().int().min(0).max(65535).default(4000),
      GRAPHIQL: flag,
      ALLOWED_ORIGINS: optionalString,
      MAX_REQUEST_BODY_BYTES: positiveInt(1_000_000),
    })
    .transform((variables, ctx) => {
      const origins = variables.ALLOWED_ORIGINS?.split(",")
        .map((origin) => origin.trim())
        .filter(Boolean);
      if (!local && origins?.includes("*")) {
        refuse(
          ctx,
          "ALLOWED_ORIGINS",
          `"*" is refused in ${env}: it lets every website's scripts call the API from a visitor's browser; list your ` +
            "frontends' origins (comma-separated), or leave it unset for same-origin only",
        );
      }
      const warnings: string[] = [];
      if (!local && variables.GRAPHIQL)
        warnings.push(`GRAPHIQL=true in ${env}: the GraphiQL IDE is served on GET /graphql`);
      return {
        server: {
          host: variables.HOST,
          port: variables.PORT,
          // An IDE for developers; elsewhere only when asked for (it is harmless, but it is surface nobody needs).
          graphiql: variables.GRAPHIQL ?? local,
          /**
           * Browser origins allowed to call the API; ["*"] = any (no cookies are used, so no credentials). Open
           * locally so any local frontend works; closed (same-origin only) elsewhere unless listed.
           */
          allowedOrigins: origins ?? (local ? ["*"] : []),
          maxRequestBodyBytes: variables.MAX_REQUEST_BODY_BYTES,
        },
        warnings,
      };
    });
