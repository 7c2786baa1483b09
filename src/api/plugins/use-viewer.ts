import type { Plugin } from "graphql-yoga";
import { createGraphQLError } from "graphql-yoga";
import { bindLogContext } from "../../observability/log-context.ts";
import { InvalidTokenError } from "../../security/tokens.ts";
import type { Viewer } from "../../security/viewer.ts";

/** The header a partner sends its API key in (HTTP, SSE); over graphql-ws it is `connectionParams.apiKey`. */
export const API_KEY_HEADER = "x-api-key";

export interface Authenticators {
  /** Checks an `Authorization` value (signature, expiry, revocation); throws InvalidTokenError. */
  logins: { authenticate(authorization: string): Promise<Viewer> };
  /** Checks an API key (known, not expired, not revoked); throws InvalidTokenError. */
  apiKeys: ApiKeyAuthenticator;
}

export interface ApiKeyAuthenticator {
  /** `request` lets callers within one HTTP request share one lookup (see apiKeysPerRequest). */
  authenticate(secret: string, request?: Request): Promise<Viewer>;
}

export type ViewerPluginOptions = Authenticators;

interface TransportContext {
  request?: Request;
  connectionParams?: Record<string, unknown>;
}

/** What a request or `connection_init` presented: an access token, an API key, or both (refused). */
export type Credentials =
  | { token: string; apiKey?: undefined }
  | { apiKey: string; token?: undefined }
  | { token: string; apiKey: string };

const INVALID_TOKEN = "The access token is invalid, expired or revoked; refresh it or sign in again.";
/** One message for unknown, expired and revoked keys alike: a caller learns nothing about which. */
const INVALID_API_KEY = "The API key is invalid, expired or revoked.";
const BOTH_CREDENTIALS = `Send either an access token or an API key (${API_KEY_HEADER}), not both.`;

/**
 * Puts `viewer` into the context from `Authorization` or `x-api-key` (HTTP, SSE), or `connectionParams.authorization`
 * or `connectionParams.apiKey` (graphql-ws). No credentials means anonymous; bad credentials are an error, never a
 * silent downgrade.
 */
export function useViewer({ logins, apiKeys }: ViewerPluginOptions): Plugin<TransportContext> {
  return {
    async onContextBuilding({ context, extendContext }) {
      const credentials = readCredentials(context);
      if (credentials === undefined) {
        extendContext({ viewer: null } as never);
        return;
      }
      const viewer = await authenticate(credentials, { logins, apiKeys }, context.request).catch((error: unknown) => {
        throw unauthenticated(error, credentials);
      });
      bindLogContext({ userId: viewer.userId });
      extendContext({ viewer } as never);
    },
  };
}

/** The viewer these credentials stand for; throws InvalidTokenError (both kinds at once count as invalid). */
export function authenticate(
  credentials: Credentials,
  { logins, apiKeys }: Authenticators,
  request?: Request,
): Promise<Viewer> {
  if (credentials.token !== undefined && credentials.apiKey !== undefined)
    return Promise.reject(new InvalidTokenError("invalid"));
  return credentials.apiKey !== undefined
    ? apiKeys.authenticate(credentials.apiKey, request)
    : logins.authenticate(credentials.token);
}

/**
 * Within one HTTP request the key is needed twice, before the context exists (the trusted-documents gate, which
 * decides whether a query text may run at all) and while it is built (useViewer): one lookup serves both.
 */
export function apiKeysPerRequest(apiKeys: { authenticate(secret: string): Promise<Viewer> }): ApiKeyAuthenticator {
  const byRequest = new WeakMap<Request, { secret: string; viewer: Promise<Viewer> }>();
  return {
    authenticate(secret, request) {
      if (!request) return apiKeys.authenticate(secret);
      const known = byRequest.get(request);
      if (known?.secret === secret) return known.viewer;
      const viewer = apiKeys.authenticate(secret);
      viewer.catch(() => undefined); // awaited by the callers; this only keeps an unawaited copy from being "unhandled"
      byRequest.set(request, { secret, viewer });
      return viewer;
    },
  };
}

function unauthenticated(error: unknown, credentials: Credentials) {
  if (!(error instanceof InvalidTokenError)) return error;
  const message =
    credentials.token !== undefined && credentials.apiKey !== undefined
      ? BOTH_CREDENTIALS
      : credentials.apiKey !== undefined
        ? INVALID_API_KEY
        : INVALID_TOKEN;
  return createGraphQLError(message, { extensions: { code: "UNAUTHENTICATED", http: { status: 401 } } });
}

function readCredentials({ request, connectionParams }: TransportContext): Credentials | undefined {
  if (connectionParams) return credentialsFromConnectionParams(connectionParams);
  return credentialsOf(
    request?.headers.get("authorization") || undefined,
    request?.headers.get(API_KEY_HEADER) || undefined,
  );
}

/** The credentials a graphql-ws client sent in `connection_init`; "" stands for a value present but not a string. */
export function credentialsFromConnectionParams(connectionParams: Record<string, unknown>): Credentials | undefined {
  // Clients put them at the top level (graphql-ws docs) or under `headers` (GraphQL Tools' url-loader).
  const headers = (connectionParams.headers ?? {}) as Record<string, unknown>;
  const token =
    connectionParams.authorization ?? connectionParams.Authorization ?? headers.authorization ?? headers.Authorization;
  const apiKey = connectionParams.apiKey ?? headers[API_KEY_HEADER];
  return credentialsOf(stringOrEmpty(token), stringOrEmpty(apiKey));
}

function credentialsOf(token: string | undefined, apiKey: string | undefined): Credentials | undefined {
  if (token !== undefined && apiKey !== undefined) return { token, apiKey };
  if (token !== undefined) return { token };
  if (apiKey !== undefined) return { apiKey };
  return undefined;
}

function stringOrEmpty(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  return typeof value === "string" ? value : "";
}

/**
 * Whether an HTTP request is authenticated by a valid API key, known before its context is built (the trusted-documents
 * gate and introspection decide before it). A request sending both credentials, or a key that does not verify, is no
 * key request (useViewer then refuses it as UNAUTHENTICATED).
 */
export function isApiKeyRequest(apiKeys: ApiKeyAuthenticator): (request: Request) => Promise<boolean> {
  return (request) => isValidApiKey(readCredentials({ request }), apiKeys, request);
}

/** Whether these credentials are an API key alone, and it verifies now (graphql-ws asks this per operation). */
export async function isValidApiKey(
  credentials: Credentials | undefined,
  apiKeys: ApiKeyAuthenticator,
  request?: Request,
): Promise<boolean> {
  if (credentials?.apiKey === undefined || credentials.token !== undefined) return false;
  return apiKeys.authenticate(credentials.apiKey, request).then(
    () => true,
    () => false,
  );
}
