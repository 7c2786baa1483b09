// urql with graphql-ws, sending persisted operations only: the hash `npm run codegen` puts in each document
// (`__meta__.hash`, also the key in web/src/generated/persisted-documents.json) and no query text.
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from "@urql/core";
import { persistedExchange } from "@urql/exchange-persisted";
import { createClient as createWsClient } from "graphql-ws";

const token = () => localStorage.getItem("token");
const ws = createWsClient({
  url: "ws://localhost:4000/graphql",
  connectionParams: () => ({ authorization: token() ? `Bearer ${token()}` : "" }),
});
export const client = new Client({
  url: "http://localhost:4000/graphql",
  preferGetMethod: false,
  fetchOptions: (): RequestInit => (token() ? { headers: { authorization: `Bearer ${token()}` } } : {}),
  exchanges: [
    cacheExchange,
    persistedExchange({
      enforcePersistedQueries: true, // never fall back to sending the query text
      enableForMutation: true,
      enableForSubscriptions: true,
      preferGetForPersistedQueries: false,
      generateHash: async (_query, document) => (document as { __meta__?: { hash?: string } }).__meta__?.hash,
    }),
    fetchExchange,
    subscriptionExchange({
      forwardSubscription: (request) => ({
        subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? "" }, sink) }),
      }),
    }),
  ],
});
