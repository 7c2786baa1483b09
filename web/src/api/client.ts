// The client's two transports. Queries and mutations go through urql over HTTP; the reply stream goes over
// graphql-ws. Both send persisted operations only: the hash codegen put in each document (`__meta__.hash`) and no
// query text, so the API can refuse every document that is not in the client's manifest.
import { Client, cacheExchange, fetchExchange, type TypedDocumentNode } from "@urql/core";
import { authExchange } from "@urql/exchange-auth";
import { persistedExchange } from "@urql/exchange-persisted";
import { createClient as createWsClient, type ExecutionResult } from "graphql-ws";
import { AuthSession, SignedOutError, type Credentials } from "../auth/auth-session.ts";
import { apiUrl, wsUrl } from "../config.ts";
import { RefreshDocument } from "../generated/graphql.ts";
import { errorCode } from "./errors.ts";

export interface Api {
  auth: AuthSession;
  /** Sign-in operations: no token, no auth retries. */
  publicClient: Client;
  /** Everything a signed-in user does over HTTP; a new one per user, so no cached data outlives a sign-out. */
  createUserClient(): Client;
  /** A persisted subscription over graphql-ws; a dropped socket ends it with an error (the caller resumes). */
  subscribe<Data, Variables extends Record<string, unknown>>(
    document: TypedDocumentNode<Data, Variables>,
    variables: Variables,
  ): AsyncIterableIterator<ExecutionResult<Data>>;
  /** Closes the socket (sign-out). */
  disconnect(): void;
}

/** The manifest key of a generated document. */
export function documentHash(document: TypedDocumentNode<unknown, never>): string {
  const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  if (!hash) throw new Error("Document has no persisted hash: run `npm run codegen`");
  return hash;
}

function operationName(document: TypedDocumentNode<unknown, never>): string | undefined {
  const operation = document.definitions.find((definition) => definition.kind === "OperationDefinition");
  return operation && "name" in operation ? operation.name?.value : undefined;
}

const persisted = () =>
  persistedExchange({
    enforcePersistedQueries: true,
    enableForMutation: true,
    // POST: a GET would need the API's CSRF header, and hashes in URLs end up in access logs for nothing.
    preferGetForPersistedQueries: false,
    generateHash: async (_query, document) => documentHash(document),
  });

export function createApi(): Api {
  const publicClient = new Client({
    url: apiUrl,
    preferGetMethod: false,
    requestPolicy: "network-only",
    exchanges: [persisted(), fetchExchange],
  });

  const auth = new AuthSession(async (refreshToken): Promise<Credentials> => {
    const result = await publicClient.mutation(RefreshDocument, { input: { refreshToken } }).toPromise();
    if (result.data) return result.data.refreshToken;
    if (errorCode(result.error) === "UNAUTHENTICATED") throw new SignedOutError();
    throw result.error ?? new Error("No answer to the token refresh");
  });

  let socket: WebSocket | null = null;
  const ws = createWsClient({
    url: wsUrl,
    lazy: true,
    // 0: a dropped socket ends each subscription with an error and the caller resubscribes from its last cursor.
    // graphql-ws's own retry would re-send the subscription as first sent, stale `after:` and all.
    retryAttempts: 0,
    connectionParams: async () => {
      const token = await auth.freshToken();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    on: {
      connected: (connected) => {
        socket = connected as WebSocket;
      },
      closed: () => {
        socket = null;
      },
    },
  });
  // A socket lives on the token it was opened with: after a refresh, reconnect with the new one (the stream
  // resumes from its cursor) instead of waiting for the server to close it with 4401 at the old token's expiry.
  auth.onRefreshed(() => socket?.close(4205, "Client Restart"));

  return {
    auth,
    publicClient,
    createUserClient: () =>
      new Client({
        url: apiUrl,
        preferGetMethod: false,
        exchanges: [
          cacheExchange,
          authExchange(async (utils) => ({
            addAuthToOperation: (operation) =>
              auth.token ? utils.appendHeaders(operation, { Authorization: `Bearer ${auth.token}` }) : operation,
            willAuthError: () => auth.expiresSoon(),
            didAuthError: (error) => errorCode(error) === "UNAUTHENTICATED",
            refreshAuth: async () => {
              await auth.refresh().catch((error: unknown) => {
                if (!(error instanceof SignedOutError)) throw error;
              });
            },
          })),
          persisted(),
          fetchExchange,
        ],
      }),
    subscribe: (document, variables) =>
      ws.iterate({
        query: "",
        operationName: operationName(document),
        variables,
        extensions: { persistedQuery: { version: 1, sha256Hash: documentHash(document) } },
      }) as AsyncIterableIterator<ExecutionResult<never>>,
    disconnect: () => socket?.close(1000, "Signed out"),
  };
}
