import type { Plugin } from "graphql-yoga";
import { createGraphQLError } from "graphql-yoga";
import { bindLogContext } from "../../observability/log-context.ts";
import { InvalidTokenError } from "../../security/tokens.ts";
import type { Viewer } from "../../security/viewer.ts";

export interface ViewerPluginOptions {
  /** Checks an `Authorization` value (signature, expiry, revocation); throws InvalidTokenError. */
  logins: { authenticate(authorization: string): Promise<Viewer> };
}

interface TransportContext {
  request?: Request;
  connectionParams?: Record<string, unknown>;
}

/**
 * Puts `viewer` into the context from `Authorization` (HTTP, SSE) or `connectionParams.authorization`
 * (graphql-ws). No credentials means anonymous; bad credentials are an error, never a silent downgrade.
 */
export function useViewer({ logins }: ViewerPluginOptions): Plugin<TransportContext> {
  return {
    async onContextBuilding({ context, extendContext }) {
      const header = readAuthorization(context);
      if (header === undefined) {
        extendContext({ viewer: null } as never);
        return;
      }
      try {
        const viewer: Viewer = await logins.authenticate(header);
        bindLogContext({ userId: viewer.userId });
        extendContext({ viewer } as never);
      } catch (error) {
        if (!(error instanceof InvalidTokenError)) throw error;
        throw createGraphQLError("The access token is invalid, expired or revoked; refresh it or sign in again.", {
          extensions: { code: "UNAUTHENTICATED", http: { status: 401 } },
        });
      }
    },
  };
}

function readAuthorization({ request, connectionParams }: TransportContext): string | undefined {
  if (connectionParams) return authorizationFromConnectionParams(connectionParams);
  return request?.headers.get("authorization") || undefined;
}

/** The credentials a graphql-ws client sent in `connection_init`; "" when present but not a string. */
export function authorizationFromConnectionParams(connectionParams: Record<string, unknown>): string | undefined {
  // Clients put it at the top level (graphql-ws docs) or under `headers` (GraphQL Tools' url-loader).
  const headers = (connectionParams.headers ?? {}) as Record<string, unknown>;
  const value =
    connectionParams.authorization ?? connectionParams.Authorization ?? headers.authorization ?? headers.Authorization;
  if (value === undefined || value === null || value === "") return undefined;
  return typeof value === "string" ? value : "";
}
