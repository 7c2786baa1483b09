import {
  getNamedType,
  getNullableType,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  isLeafType,
  isListType,
  isObjectType,
  Kind,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
// The package's ESM build imports graphql's `.mjs` files: a second graphql next to the CommonJS one that Node
// loads for `graphql`, which graphql refuses ("from another module or realm"). Its CommonJS build shares ours.
import { getComplexity, type ComplexityEstimator } from "graphql-query-complexity/cjs";
import type { Plugin } from "graphql-yoga";
import { RateLimitedError, type BucketStatus, type RateLimits } from "../../security/rate-limits.ts";
import { callerKey, rateLimitedExtensions, type LimitedContext } from "./use-rate-limits.ts";

// The cost model, in points: Shopify's, made exact for Relay connections, so that the requested cost is the
// most objects a response can hold and the actual cost is how many it held.
// - A field returning an object costs 1 per object; scalars and enums cost 0.
// - A connection multiplies its items (`edges` and all under them) by `first`/`last`, or by MAX_PAGE_SIZE when
//   neither is given; `pageInfo` and `totalCount` count once. Another list multiplies its items by `ids.length`
//   (`nodes(ids:)`) or MAX_PAGE_SIZE.
// - A mutation root field costs MUTATION_COST more: writes are dearer than reads.
// - Introspection is free: the schema is static, and armor's depth and token limits bound such queries.
// - Every operation costs at least 1 point, so a flood of empty queries still runs out.

/** Pothos's default `maxConnectionSize` (builder.ts sets none): no connection returns more, whatever `first` says. */
export const MAX_PAGE_SIZE = 100;
export const MUTATION_COST = 10;

export interface QueryCostPluginOptions {
  /** Its `cost` bucket is the per-minute budget; an operation takes its requested cost and gets back the rest. */
  limits: RateLimits;
  /** Highest requested cost one operation may have; never above the budget, or the operation could never run. */
  maxCost: number;
  /**
   * Proxies in front of the server whose `X-Forwarded-For` entries are trusted; 0 uses the socket address.
   * @default 0
   */
  trustedProxyHops?: number;
}

/** `extensions.cost` of every query and mutation result (not of subscription events). */
export interface QueryCostReport {
  requestedQueryCost: number;
  actualQueryCost: number;
  /** A fixed window: the whole budget comes back at once after `resetInSeconds`, not at a restore rate. */
  throttleStatus: { maximumAvailable: number; currentlyAvailable: number; resetInSeconds: number };
}

/**
 * Prices every operation before it runs, refuses it over `maxCost` (QUERY_LIMIT_EXCEEDED) or over what is left
 * of the caller's budget (RATE_LIMITED), and refunds what a query or mutation did not use. Subscriptions pay
 * their requested cost once, at subscribe. HTTP, SSE and graphql-ws all run this pipeline.
 */
export function useQueryCost({ limits, maxCost, trustedProxyHops = 0 }: QueryCostPluginOptions): Plugin<LimitedContext> {
  const maximum = Math.min(maxCost, limits.limit("cost"));

  /** Takes the requested cost from the budget, or returns the refusal to answer with. */
  const charge = async (args: ExecutionArgs, key: string) => {
    const requested = requestedQueryCost(args);
    const refuse = async (error: GraphQLError, status: BucketStatus | undefined) => ({
      refusal: { errors: [error], extensions: { cost: report(requested, 0, status ?? (await limits.status("cost", key))) } },
    });
    if (requested > maximum) return refuse(overLimit(requested, maximum), undefined);
    try {
      return { requested, taken: await limits.consume("cost", key, requested) };
    } catch (error) {
      if (!(error instanceof RateLimitedError)) throw error;
      return refuse(new GraphQLError(error.message, { extensions: rateLimitedExtensions(error) }), error.status);
    }
  };

  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const key = callerKey(args.contextValue as LimitedContext, trustedProxyHops);
      const charged = await charge(args, key);
      if ("refusal" in charged) return setResultAndStopExecution(charged.refusal);
      const { requested, taken } = charged;
      return {
        async onExecuteDone({ result, setResult }) {
          if (Symbol.asyncIterator in result) return; // @defer/@stream are off; nothing to refund per chunk
          // Never more than was taken up front, should the result hold more than the model foresaw.
          const actual = Math.min(requested, actualQueryCost(args, result));
          const status = await limits.refund("cost", key, requested - actual, taken.resetsAt);
          setResult({ ...result, extensions: { ...result.extensions, cost: report(requested, actual, status) } });
        },
      };
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const charged = await charge(args, callerKey(args.contextValue as LimitedContext, trustedProxyHops));
      if ("refusal" in charged) setResultAndStopExecution(charged.refusal);
    },
  };
}

/** The operation's cost before it runs, from the document and its variables. */
export function requestedQueryCost({ schema, document, operationName, variableValues }: ExecutionArgs): number {
  const operation = getOperationAST(document, operationName);
  // Execution refuses these itself, before any resolver runs: only the 1 point every operation costs.
  if (!operation || getVariableValues(schema, operation.variableDefinitions ?? [], variableValues ?? {}).errors) return 1;
  try {
    const cost = getComplexity({
      schema,
      query: document,
      variables: variableValues ?? {},
      operationName: operationName ?? undefined,
      estimators: [estimator(schema)],
    });
    return Math.max(1, cost);
  } catch (error) {
    // The library gives up past 10,000 selections (fragments spread into each other): too large to price.
    if (error instanceof GraphQLError) return Number.POSITIVE_INFINITY;
    throw error;
  }
}

/** The same units counted in the result: each object returned, each list as long as it really is. */
export function actualQueryCost({ document, operationName }: ExecutionArgs, result: ExecutionResult): number {
  const operation = getOperationAST(document, operationName);
  if (!operation) return 1;
  let cost = 0;
  for (const [key, name] of rootFields(document, operation.selectionSet)) {
    if (name.startsWith("__")) continue;
    cost += countObjects(result.data?.[key]) + (operation.operation === "mutation" ? MUTATION_COST : 0);
  }
  return Math.max(1, cost);
}

function estimator(schema: GraphQLSchema): ComplexityEstimator {
  // Children are estimated before their parent: the cost of one item of the connection being estimated is
  // collected from its lists here, and multiplied by the page size when the connection field itself comes.
  let itemCost = 0;
  return ({ type, field, args, childComplexity }) => {
    const returns = getNullableType(field.type);
    if (type.name.startsWith("__") || field.name.startsWith("__") || isLeafType(getNamedType(returns))) return 0;
    if (isConnection(type) && isListType(returns)) {
      itemCost += 1 + childComplexity;
      return 1 + childComplexity;
    }
    if (isConnection(getNamedType(returns))) {
      const perItem = itemCost;
      itemCost = 0;
      return 1 + childComplexity + (pageSize(args.first ?? args.last) - 1) * perItem;
    }
    const surcharge = type === schema.getMutationType() ? MUTATION_COST : 0;
    // A plain list counts as `ids.length` for nodes(ids:), else as the `maxItems` its field declares, else a page.
    const declared = field.extensions?.maxItems;
    const count = isListType(returns)
      ? pageSize(Array.isArray(args.ids) ? args.ids.length : typeof declared === "number" ? declared : undefined)
      : 1;
    return surcharge + count * (1 + childComplexity);
  };
}

function isConnection(type: GraphQLNamedType): boolean {
  return isObjectType(type) && "edges" in type.getFields() && "pageInfo" in type.getFields();
}

function pageSize(requested: unknown): number {
  return typeof requested === "number" ? Math.max(0, Math.min(requested, MAX_PAGE_SIZE)) : MAX_PAGE_SIZE;
}

function countObjects(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + countObjects(item), 0);
  if (value === null || typeof value !== "object") return 0;
  return Object.values(value).reduce((sum: number, child) => sum + countObjects(child), 1);
}

/** Response key → field name of the operation's root fields, through fragments. */
function rootFields(document: DocumentNode, selectionSet: SelectionSetNode, fields = new Map<string, string>()) {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      fields.set(selection.alias?.value ?? selection.name.value, selection.name.value);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      rootFields(document, selection.selectionSet, fields);
    } else {
      const fragment = document.definitions.find(
        (definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value,
      );
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) rootFields(document, fragment.selectionSet, fields);
    }
  }
  return fields;
}

function overLimit(requested: number, maximum: number): GraphQLError {
  const found = Number.isFinite(requested) ? `found ${requested}` : "too large to price";
  return new GraphQLError(`Query cost limit of ${maximum} exceeded, ${found}.`, {
    // requestedQueryCost is null (JSON's Infinity) when too large to price.
    extensions: { code: "QUERY_LIMIT_EXCEEDED", limit: "cost", cost: { requestedQueryCost: requested, maximumQueryCost: maximum } },
  });
}

function report(requested: number, actual: number, status: BucketStatus): QueryCostReport {
  return {
    requestedQueryCost: requested,
    actualQueryCost: actual,
    throttleStatus: {
      maximumAvailable: status.limit,
      currentlyAvailable: status.remaining,
      resetInSeconds: Math.max(0, Math.ceil((status.resetsAt - Date.now()) / 1000)),
    },
  };
}
