import { NoSchemaIntrospectionCustomRule, type GraphQLError, type ValidationRule } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Viewer } from "../../security/viewer.ts";

export interface DisableIntrospectionPluginOptions {
  /**
   * Whether an HTTP request is authenticated by an API key (see isApiKeyRequest): partners generate their clients
   * from the schema, so they keep introspection where it is off. Decided before validation, which runs before the
   * context (and its viewer) is built; over graphql-ws the viewer is known by then and is read instead.
   * @default () => false
   */
  isApiKeyRequest?: (request: Request) => Promise<boolean>;
  /**
   * Whether "Did you mean …?" hints are shown at all (GRAPHQL_FIELD_SUGGESTIONS; armor hides them when not). They
   * spell out field names, so where introspection is refused they follow the same rule: API keys only.
   * @default false
   */
  fieldSuggestions?: boolean;
}

/**
 * Refuses `__schema` and `__type` (not `__typename`) with INTROSPECTION_DISABLED, and hides field suggestions, on every
 * transport, except for requests authenticated by an API key.
 */
export function useDisableIntrospection({
  isApiKeyRequest = async () => false,
  fieldSuggestions = false,
}: DisableIntrospectionPluginOptions = {}): Plugin<{ viewer?: Viewer | null }> {
  /** Per request context: authenticated by a valid API key (HTTP, SSE). */
  const keyRequests = new WeakSet<object>();
  return {
    async onParams({ request, context }) {
      if (await isApiKeyRequest(request)) keyRequests.add(context);
    },
    onValidate({ context, addValidationRule }) {
      if (keyRequests.has(context) || context.viewer?.apiKeyId) return;
      addValidationRule(IntrospectionDisabled);
      if (!fieldSuggestions) return; // armor hides them from everyone
      return ({ valid, result, setResult }) => {
        if (!valid) setResult(result.map(withoutSuggestion));
      };
    },
  };
}

/** armor's mask, so a hidden suggestion reads the same whoever hid it. */
function withoutSuggestion<E extends Error>(error: E): E {
  error.message = error.message.replace(/Did you mean ".+"\?/g, "[Suggestion hidden]").trim();
  return error;
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
