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
}

/** Refuses `__schema` and `__type` (not `__typename`) with INTROSPECTION_DISABLED, on every transport, except for API keys. */
export function useDisableIntrospection({
  isApiKeyRequest = async () => false,
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
