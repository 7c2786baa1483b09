// Real clients: fetch for HTTP, graphql-ws over `ws` for subscriptions.
import { randomUUID } from "node:crypto";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import {
  CreateApiKeyDocument,
  CreateSessionDocument,
  MessageStreamDocument,
  RegisterDocument,
  SendMessageDocument,
  type SendMessageMutation,
} from "../generated/graphql.ts";

/**
 * Where an HTTP helper sends: a URL (a real socket, `fetch`) or an in-process app (`buildTestApp`: its `yoga.fetch`,
 * no port). The graphql-ws helpers below still take a URL: they need a socket.
 */
export type Endpoint = string | { graphqlUrl: string; fetch(input: string, init?: RequestInit): Promise<Response> };

const send = (to: Endpoint, init: RequestInit) =>
  typeof to === "string" ? fetch(to, init) : to.fetch(to.graphqlUrl, init);

export interface GraphQLResponse<T = any> {
  data?: T;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, any> }>;
}

export async function graphql<T = any, V = Record<string, unknown>>(
  to: Endpoint,
  query: string | TypedDocumentNode<T, V>,
  variables: V | Record<string, unknown> = {},
  token?: string,
): Promise<GraphQLResponse<T> & { status: number }> {
  const response = await send(to, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: typeof query === "string" ? query : print(query), variables }),
  });
  return { status: response.status, ...((await response.json()) as GraphQLResponse<T>) };
}

/**
 * A POST with any body and headers: for requests the helper above cannot make (an `x-api-key`, a persisted document's
 * hash without a query).
 */
export async function postGraphQL<T = any>(
  to: Endpoint,
  body: {
    query?: string | TypedDocumentNode<any, any>;
    variables?: Record<string, unknown>;
    extensions?: unknown;
    documentId?: string;
    operationName?: string;
  },
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T> & { status: number }> {
  const { query, ...rest } = body;
  const response = await send(to, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({
      ...(query === undefined ? {} : { query: typeof query === "string" ? query : print(query) }),
      ...rest,
    }),
  });
  return { status: response.status, ...((await response.json()) as GraphQLResponse<T>) };
}

/** A new API key of the user signed in with `token`: its secret and global id. */
export async function createApiKey(to: Endpoint, token: string, input: { name?: string; expiresAt?: string } = {}) {
  const result = await graphql(to, CreateApiKeyDocument, { input: { name: "partner", ...input } }, token);
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return {
    secret: result.data.createApiKey.secret,
    id: result.data.createApiKey.apiKey.id,
    apiKey: result.data.createApiKey.apiKey,
  };
}

/** A graphql-ws client authenticated by an API key (`connectionParams.apiKey`). */
export function wsClientWithApiKey(url: string, apiKey: string): Client {
  return createClient({ url, webSocketImpl: WebSocket, connectionParams: { apiKey }, retryAttempts: 0, lazy: true });
}

export const strongPassword = () => `Pw-${randomUUID().slice(0, 8)}!a1`;

export interface SignedUpUser {
  token: string;
  refreshToken: string;
  userId: string;
  email: string;
  password: string;
}

export async function signUp(to: Endpoint): Promise<SignedUpUser> {
  const email = `user-${randomUUID()}@example.com`;
  const password = strongPassword();
  const result = await graphql(to, RegisterDocument, { input: { email, password } });
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  const { token, refreshToken } = result.data.register;
  return { token, refreshToken, userId: result.data.register.user.id, email, password };
}

export async function createSession(to: Endpoint, token: string, name?: string): Promise<string> {
  const result = await graphql(to, CreateSessionDocument, { input: name === undefined ? {} : { name } }, token);
  if (!result.data) throw new Error(JSON.stringify(result.errors));
  return result.data.createSession.session.id;
}

export function wsClient(url: string, token?: string): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
}

export const MESSAGE_STREAM = print(MessageStreamDocument);

export interface StreamEvent {
  __typename:
    | "MessageSnapshot"
    | "MessageQueued"
    | "MessageDelta"
    | "MessageRestarted"
    | "ToolCallStarted"
    | "ToolCallFinished"
    | "MessageCompleted"
    | "MessageCancelled"
    | "MessageFailed";
  messageId: string;
  cursor: string;
  /** MessageSnapshot: the reply's whole text so far. */
  content?: string;
  position?: number;
  delta?: string;
  toolCallId?: string;
  name?: string;
  arguments?: Record<string, unknown>;
  result?: string;
  isError?: boolean;
  message?: { id: string; role: string; content: string; status: string; model: string };
  code?: string;
  reason?: string;
}

const FINAL_EVENTS = new Set<StreamEvent["__typename"]>(["MessageCompleted", "MessageCancelled", "MessageFailed"]);

/** Collects one reply's events until its final event (or `timeoutMs`). */
export async function collectReply(
  client: Client,
  variables: { sessionId: string; after?: string },
  messageId: string,
  timeoutMs = 15_000,
): Promise<StreamEvent[]> {
  return followReply(client, { query: MESSAGE_STREAM, variables }, messageId, timeoutMs);
}

/** The body urql's persisted exchange (enforcePersistedQueries) sends: no query, the hash in extensions. */
export const persistedBody = (sha256Hash: string, variables: Record<string, unknown> = {}) => ({
  variables,
  extensions: { persistedQuery: { version: 1, sha256Hash } },
});

/** Who sends: a signed-in user (any object with its `token`, a SignedUpUser say) or a partner's API key. */
export type Caller = { token: string } | { apiKey: string };

export interface SendAndCollectOptions {
  /**
   * Follow the reply on this client and leave it open (to follow several replies on one connection, or one reply
   * twice). By default a new client authenticated as the caller, closed afterwards.
   */
  client?: Client;
  /** Sent with the sendMessage POST as well (an `x-request-id`, say). */
  headers?: Record<string, string>;
  /**
   * Send both operations as trusted documents, by hash only (a server with PERSISTED_DOCUMENTS_ONLY): the manifest's
   * `hashOf`. By default their text is sent.
   */
  hashOf?: (document: TypedDocumentNode<any, any>) => string;
  /** @default 15_000 */
  timeoutMs?: number;
}

export type SentReply = SendMessageMutation["sendMessage"] & {
  /** The reply's events from the send's `streamCursor` to its final event. */
  events: StreamEvent[];
};

/**
 * The suite's one send-and-collect: sends `input` with sendMessage over HTTP as `caller`, then follows the reply over
 * graphql-ws from the send's `streamCursor` to its final event. Throws when sendMessage is refused (a test of a
 * refusal sends with `graphql` instead). `app` may mix instances: send on one, follow on another.
 */
export async function sendAndCollectReply(
  app: { graphqlUrl: string; wsUrl: string },
  caller: Caller,
  input: { sessionId: string; content: string },
  { client: given, headers = {}, hashOf, timeoutMs = 15_000 }: SendAndCollectOptions = {},
): Promise<SentReply> {
  const credentials: Record<string, string> =
    "token" in caller ? { authorization: `Bearer ${caller.token}` } : { "x-api-key": caller.apiKey };
  const sendBody = hashOf
    ? persistedBody(hashOf(SendMessageDocument), { input })
    : { query: SendMessageDocument, variables: { input } };
  const sent = await postGraphQL<SendMessageMutation>(app.graphqlUrl, sendBody, { ...credentials, ...headers });
  if (sent.errors || !sent.data) throw new Error(`sendMessage was refused: ${JSON.stringify(sent.errors)}`);
  const { message, reply, streamCursor } = sent.data.sendMessage;
  const client =
    given ?? ("token" in caller ? wsClient(app.wsUrl, caller.token) : wsClientWithApiKey(app.wsUrl, caller.apiKey));
  const variables = { sessionId: input.sessionId, after: streamCursor };
  const subscribe = hashOf
    ? { query: "", ...persistedBody(hashOf(MessageStreamDocument), variables) }
    : { query: MESSAGE_STREAM, variables };
  try {
    const events = await followReply(client, subscribe, reply.id, timeoutMs);
    return { message, reply, streamCursor, events };
  } finally {
    if (!given) await client.dispose();
  }
}

/** Reads a messageStream subscription until `messageId`'s final event, skipping other replies' events. */
async function followReply(
  client: Client,
  payload: { query: string; variables: Record<string, unknown>; extensions?: Record<string, unknown> },
  messageId: string,
  timeoutMs: number,
): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  const subscription = client.iterate<{ messageStream: StreamEvent }>(payload);
  const timer = setTimeout(() => void subscription.return?.(), timeoutMs);
  try {
    for await (const result of subscription) {
      if (result.errors) throw new Error(JSON.stringify(result.errors));
      const event = result.data!.messageStream;
      if (event.messageId !== messageId) continue;
      events.push(event);
      if (FINAL_EVENTS.has(event.__typename)) break;
    }
  } finally {
    clearTimeout(timer);
    await subscription.return?.();
  }
  return events;
}

/**
 * The first answer to a subscription, whichever way graphql-ws delivers a refusal: an `error` message
 * (refused before execution, e.g. a bad token or a query over the limits) or a result carrying errors.
 */
export async function firstSubscriptionResult(
  client: Client,
  payload: { query: string | TypedDocumentNode<any, any>; variables?: Record<string, unknown> },
): Promise<GraphQLResponse> {
  const { query } = payload;
  const iterator = client.iterate({ ...payload, query: typeof query === "string" ? query : print(query) });
  try {
    const { value } = await iterator.next();
    return value as GraphQLResponse;
  } catch (errors) {
    if (Array.isArray(errors)) return { errors };
    throw errors;
  } finally {
    await iterator.return?.();
  }
}

/**
 * A graphql-ws connection holding one messageStream subscription, for watching the server end it:
 * `connected` once acknowledged, `closed` with the close code and reason.
 */
export function watchSubscription(wsUrl: string, token: string, sessionId: string) {
  let connected!: () => void;
  const isConnected = new Promise<void>((resolve) => (connected = resolve));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    const client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      on: { connected: () => connected(), closed: (event) => resolve(event as { code: number; reason: string }) },
    });
    client.subscribe(
      { query: MESSAGE_STREAM, variables: { sessionId } },
      { next: () => {}, error: () => {}, complete: () => {} },
    );
  });
  return { connected: isConnected, closed };
}
