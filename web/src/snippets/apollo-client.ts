// Apollo Client 4 with graphql-ws. Compiled in CI as part of the web client (docs/clients.md: "Connecting a frontend").
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";

const token = () => localStorage.getItem("token");
const httpLink = new HttpLink({
  uri: "http://localhost:4000/graphql",
  headers: {
    get authorization() {
      return token() ? `Bearer ${token()}` : "";
    },
  },
});
const wsLink = new GraphQLWsLink(
  createClient({
    url: "ws://localhost:4000/graphql",
    connectionParams: () => ({ authorization: token() ? `Bearer ${token()}` : "" }),
  }),
);
export const client = new ApolloClient({
  link: ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === "OperationDefinition" && definition.operation === "subscription";
    },
    wsLink,
    httpLink,
  ),
  cache: new InMemoryCache(),
});
