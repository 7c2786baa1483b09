import { NoSchemaIntrospectionCustomRule, type GraphQLError, type ValidationRule } from "graphql";
import type { Plugin } from "graphql-yoga";

/** Refuses `__schema` and `__type` (not `__typename`) with INTROSPECTION_DISABLED, on every transport. */
export function useDisableIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(IntrospectionDisabled);
    },
  };
}

/** graphql's own rule; its errors only lack a code, so it reports through a context that adds one. */
const IntrospectionDisabled: ValidationRule = (context) =>
  NoSchemaIntrospectionCustomRule(
    Object.create(context, {
      reportError: {
        value: (error: GraphQLError) => {
          Object.assign(error.extensions, { code: "INTROSPECTION_DISABLED" });
          context.reportError(error);
        },
      },
    }),
  );
