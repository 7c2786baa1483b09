/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    token\n    expiresAt\n    user {\n      id\n      email\n    }\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    token\n    expiresAt\n    user {\n      id\n      email\n    }\n  }\n}\n\nquery Me {\n  me {\n    id\n    email\n  }\n}\n\nquery MySessions($first: Int = 20, $after: String) {\n  me {\n    sessions(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          name\n          updatedAt\n        }\n      }\n    }\n  }\n}\n\nmutation CreateSession($input: CreateSessionInput!) {\n  createSession(input: $input) {\n    session {\n      id\n      name\n      createdAt\n    }\n  }\n}\n\nmutation SendMessage($input: SendMessageInput!) {\n  sendMessage(input: $input) {\n    message {\n      id\n      role\n      content\n      createdAt\n    }\n    reply {\n      id\n      status\n    }\n    streamCursor\n  }\n}\n\nquery SessionHistory($id: ID!, $last: Int = 50) {\n  session(id: $id) {\n    id\n    name\n    messages(last: $last) {\n      edges {\n        node {\n          id\n          role\n          content\n          status\n          createdAt\n        }\n      }\n    }\n  }\n}\n\nsubscription MessageStream($sessionId: ID!, $after: String) {\n  messageStream(sessionId: $sessionId, after: $after) {\n    __typename\n    messageId\n    cursor\n    ... on MessageDelta {\n      delta\n    }\n    ... on MessageCompleted {\n      message {\n        id\n        role\n        content\n        status\n        model\n      }\n    }\n    ... on MessageFailed {\n      code\n      reason\n    }\n  }\n}": typeof types.RegisterDocument,
};
const documents: Documents = {
    "mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    token\n    expiresAt\n    user {\n      id\n      email\n    }\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    token\n    expiresAt\n    user {\n      id\n      email\n    }\n  }\n}\n\nquery Me {\n  me {\n    id\n    email\n  }\n}\n\nquery MySessions($first: Int = 20, $after: String) {\n  me {\n    sessions(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          name\n          updatedAt\n        }\n      }\n    }\n  }\n}\n\nmutation CreateSession($input: CreateSessionInput!) {\n  createSession(input: $input) {\n    session {\n      id\n      name\n      createdAt\n    }\n  }\n}\n\nmutation SendMessage($input: SendMessageInput!) {\n  sendMessage(input: $input) {\n    message {\n      id\n      role\n      content\n      createdAt\n    }\n    reply {\n      id\n      status\n    }\n    streamCursor\n  }\n}\n\nquery SessionHistory($id: ID!, $last: Int = 50) {\n  session(id: $id) {\n    id\n    name\n    messages(last: $last) {\n      edges {\n        node {\n          id\n          role\n          content\n          status\n          createdAt\n        }\n      }\n    }\n  }\n}\n\nsubscription MessageStream($sessionId: ID!, $after: String) {\n  messageStream(sessionId: $sessionId, after: $after) {\n    __typename\n    messageId\n    cursor\n    ... on MessageDelta {\n      delta\n    }\n    ... on MessageCompleted {\n      message {\n        id\n        role\n        content\n        status\n        model\n      }\n    }\n    ... on MessageFailed {\n      code\n      reason\n    }\n  }\n}": types.RegisterDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    token\n    expiresAt\n    user {\n      id\n      email\n    }\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    token\n    expiresAt\n    user {\n      id\n      email\n    }\n  }\n}\n\nquery Me {\n  me {\n    id\n    email\n  }\n}\n\nquery MySessions($first: Int = 20, $after: String) {\n  me {\n    sessions(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          name\n          updatedAt\n        }\n      }\n    }\n  }\n}\n\nmutation CreateSession($input: CreateSessionInput!) {\n  createSession(input: $input) {\n    session {\n      id\n      name\n      createdAt\n    }\n  }\n}\n\nmutation SendMessage($input: SendMessageInput!) {\n  sendMessage(input: $input) {\n    message {\n      id\n      role\n      content\n      createdAt\n    }\n    reply {\n      id\n      status\n    }\n    streamCursor\n  }\n}\n\nquery SessionHistory($id: ID!, $last: Int = 50) {\n  session(id: $id) {\n    id\n    name\n    messages(last: $last) {\n      edges {\n        node {\n          id\n          role\n          content\n          status\n          createdAt\n        }\n      }\n    }\n  }\n}\n\nsubscription MessageStream($sessionId: ID!, $after: String) {\n  messageStream(sessionId: $sessionId, after: $after) {\n    __typename\n    messageId\n    cursor\n    ... on MessageDelta {\n      delta\n    }\n    ... on MessageCompleted {\n      message {\n        id\n        role\n        content\n        status\n        model\n      }\n    }\n    ... on MessageFailed {\n      code\n      reason\n    }\n  }\n}"): (typeof documents)["mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    token\n    expiresAt\n    user {\n      id\n      email\n    }\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    token\n    expiresAt\n    user {\n      id\n      email\n    }\n  }\n}\n\nquery Me {\n  me {\n    id\n    email\n  }\n}\n\nquery MySessions($first: Int = 20, $after: String) {\n  me {\n    sessions(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          id\n          name\n          updatedAt\n        }\n      }\n    }\n  }\n}\n\nmutation CreateSession($input: CreateSessionInput!) {\n  createSession(input: $input) {\n    session {\n      id\n      name\n      createdAt\n    }\n  }\n}\n\nmutation SendMessage($input: SendMessageInput!) {\n  sendMessage(input: $input) {\n    message {\n      id\n      role\n      content\n      createdAt\n    }\n    reply {\n      id\n      status\n    }\n    streamCursor\n  }\n}\n\nquery SessionHistory($id: ID!, $last: Int = 50) {\n  session(id: $id) {\n    id\n    name\n    messages(last: $last) {\n      edges {\n        node {\n          id\n          role\n          content\n          status\n          createdAt\n        }\n      }\n    }\n  }\n}\n\nsubscription MessageStream($sessionId: ID!, $after: String) {\n  messageStream(sessionId: $sessionId, after: $after) {\n    __typename\n    messageId\n    cursor\n    ... on MessageDelta {\n      delta\n    }\n    ... on MessageCompleted {\n      message {\n        id\n        role\n        content\n        status\n        model\n      }\n    }\n    ... on MessageFailed {\n      code\n      reason\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;