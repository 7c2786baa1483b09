// The evals talk to the app the way a frontend does: GraphQL over HTTP for mutations, graphql-ws for the stream.
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

class GraphQLRequestError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export async function request<T>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  token?: string,
): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as {
    data?: T;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
  const error = body.errors?.[0];
  if (error || !body.data)
    throw new GraphQLRequestError(error?.message ?? `HTTP ${response.status}`, error?.extensions?.code);
  return body.data;
}

export function streamClient(wsUrl: string, token: string): Client {
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
  });
}

export const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { token } }`;
export const CREATE_SESSION = `mutation { createSession(input: {}) { session { id } } }`;
export const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } streamCursor } }`;
export const STREAM = `subscription($sessionId: ID!, $after: String) {
  messageStream(sessionId: $sessionId, after: $after) {
    __typename
    messageId
    ... on MessageDelta { delta }
    ... on MessageCompleted { message { ...final } }
    ... on MessageCancelled { message { ...final } }
    ... on MessageFailed { code reason }
  }
}
fragment final on Message { content status errorCode model outputTokens toolCalls { name result isError } }`;
