// Limits on one GraphQL operation (graphql-armor and the query cost).
import { z } from "zod";
import { positiveInt } from "./variables.ts";

export const limitsConfig = z
  .object({
    GRAPHQL_MAX_DEPTH: positiveInt(12),
    GRAPHQL_MAX_ALIASES: positiveInt(15),
    GRAPHQL_MAX_COST: positiveInt(1000),
    GRAPHQL_MAX_TOKENS: positiveInt(2000),
    GRAPHQL_MAX_DIRECTIVES: positiveInt(20),
  })
  .transform((variables) => ({
    limits: {
      maxDepth: variables.GRAPHQL_MAX_DEPTH,
      maxAliases: variables.GRAPHQL_MAX_ALIASES,
      maxCost: variables.GRAPHQL_MAX_COST,
      maxTokens: variables.GRAPHQL_MAX_TOKENS,
      maxDirectives: variables.GRAPHQL_MAX_DIRECTIVES,
    },
  }));
