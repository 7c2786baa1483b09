// What the schema tells about itself: introspection and "Did you mean …?" hints.
import { z } from "zod";
import type { Environment } from "./app-env.ts";
import { flag } from "./variables.ts";

export const schemaConfig = ({ local }: Environment) =>
  z
    .object({
      GRAPHQL_INTROSPECTION: flag,
      GRAPHQL_FIELD_SUGGESTIONS: flag,
    })
    .transform((variables) => ({
      schema: {
        /** Partners rely on introspection, so it is on unless turned off. */
        introspection: variables.GRAPHQL_INTROSPECTION ?? true,
        /** "Did you mean …?" hints in validation errors; off by default outside a local app (development/test). */
        fieldSuggestions: variables.GRAPHQL_FIELD_SUGGESTIONS ?? local,
      },
    }));
