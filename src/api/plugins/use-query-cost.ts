import {
  getNamedType,
  getNullableType,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isObjectType,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLNamedType,
  type GraphQLSchema,
} from "graphql";
// The package's ESM build imports graphql's `.mjs` files: a second graphql next to the CommonJS one that Node
// loads for `graphql`, which graphql refuses ("from another module or realm"). Its CommonJS build shares ours.
import { getComplexity, type ComplexityEstimator } from "graphql-query-complexity/cjs";
import type { Plugin } from "graphql-yoga";
import { RateLimitedError, type BucketStatus, type RateLimits } from "../../security/rate-limits.ts";
import { rootFields } from "../root-fields.ts";
import { callerKey, rateLimitedExtensions, type LimitedContext } from "./use-rate-limits.ts";

// The cost model, in points: Shopify's, made exact for Relay connections, so that the requested cost is the
// most objects a response can hold and the actual cost is how many it held.
// - A field returning an object costs 1 per object; scalars and enums cost 0.
// - A connection multiplies its items (`edges` and all under them) by `first`/`last`, or by MAX_PAGE_SIZE when
//   neither is given; `pageInfo` and `totalCount` count once. Another list multiplies its items by `ids.length`
//   (`nodes(ids:)`, however long), else by the `maxItems` its field declares, else by MAX_PAGE_SIZE.
// - A list taking `ids` that declares `maxItems` (nodes(ids:): MAX_NODE_IDS) refuses more ids than that outright.
// - A mutation root field costs MUTATION_COST more: writes are dearer than reads.
// - Introspection is priced by the schema's size, whatever the selection: `__schema` a point per type and per
//   field of the schema, `__type` a point per field of the largest type (plus one). One full introspection query
//   (GraphiQL, codegen) fits GRAPHQL_MAX_COST; a handful of aliased `__schema` does not.
// - Every operation costs at least 1 point, so a flood of empty queries still runs out.

/** Pothos's default `maxConnectionSize` (builder.ts sets none): no connection returns more, whatever `first` says. */
const MAX_PAGE_SIZE = 100;
const MUTATION_COST = 10;

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
export function useQueryCost({
  limits,
  maxCost,
  trustedProxyHops = 0,
}: QueryCostPluginOptions): Plugin<LimitedContext> {
  const maximum = Math.min(maxCost, limits.limit("cost"));

  /** Takes the requested cost from the budget, or returns the refusal to answer with. */
  const charge = async (args: ExecutionArgs, key: string) => {
    const { cost: requested, listTooLong } = priceOperation(args);
    const refuse = async (error: GraphQLError, status: BucketStatus | undefined) => ({
      refusal: {
        errors: [error],
        extensions: { cost: report(requested, 0, status ?? (await limits.status("cost", key))) },
      },
    });
    if (listTooLong) return refuse(tooManyIds(listTooLong), undefined);
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

/** A list argument longer than the list's field allows (`maxItems`): the operation is refused before it runs. */
export interface ListTooLong {
  /** Schema coordinate, e.g. `Query.nodes`. */
  field: string;
  found: number;
  maximum: number;
}

/** The operation's cost before it runs, from the document and its variables. */
export function requestedQueryCost(args: ExecutionArgs): number {
  return priceOperation(args).cost;
}

function priceOperation({ schema, document, operationName, variableValues }: ExecutionArgs): {
  cost: number;
  listTooLong?: ListTooLong;
} {
  const operation = getOperationAST(document, operationName);
  // Execution refuses these itself, before any resolver runs: only the 1 point every operation costs.
  if (!operation || getVariableValues(schema, operation.variableDefinitions ?? [], variableValues ?? {}).errors)
    return { cost: 1 };
  const prices = estimator(schema);
  try {
    const cost = getComplexity({
      schema,
      query: document,
      variables: variableValues ?? {},
      operationName: operationName ?? undefined,
      estimators: [prices.estimate],
    });
    return { cost: Math.max(1, cost), listTooLong: prices.listTooLong() };
  } catch (error) {
    // The library gives up past 10,000 selections (fragments spread into each other): too large to price.
    if (error instanceof GraphQLError) return { cost: Number.POSITIVE_INFINITY };
    throw error;
  }
}

/** The same units counted in the result: each object returned, each list as long as it really is. */
export function actualQueryCost(args: ExecutionArgs, result: ExecutionResult): number {
  const operation = rootFields(args);
  if (!operation) return 1;
  const introspection = introspectionPrices(args.schema);
  let cost = 0;
  for (const { responseKey, fieldName } of operation.fields) {
    // The schema's size, as priced: its answer is as large whatever this one held.
    if (fieldName === "__schema") cost += introspection.schema;
    else if (fieldName === "__type") cost += introspection.type;
    else if (!fieldName.startsWith("__")) {
      cost +=
        countObjects(result.data?.[responseKey]) + (operation.operation.operation === "mutation" ? MUTATION_COST : 0);
    }
  }
  return Math.max(1, cost);
}

/** What `__schema` and `__type` cost: derived from the schema's size once per schema. */
export function introspectionPrices(schema: GraphQLSchema): { schema: number; type: number } {
  let prices = introspectionPriceCache.get(schema);
  if (!prices) {
    const types = Object.values(schema.getTypeMap());
    const fieldCounts = types.map((type) =>
      isObjectType(type) || isInterfaceType(type) || isInputObjectType(type) ? Object.keys(type.getFields()).length : 0,
    );
    prices = {
      schema: types.length + fieldCounts.reduce((sum, count) => sum + count, 0),
      type: 1 + Math.max(0, ...fieldCounts),
    };
    introspectionPriceCache.set(schema, prices);
  }
  return prices;
}

const introspectionPriceCache = new WeakMap<GraphQLSchema, { schema: number; type: number }>();

function estimator(schema: GraphQLSchema): {
  estimate: ComplexityEstimator;
  listTooLong: () => ListTooLong | undefined;
} {
  const introspection = introspectionPrices(schema);
  let listTooLong: ListTooLong | undefined;
  // Children are estimated before their parent: the cost of one item of the connection being estimated is
  // collected from its lists here, and multiplied by the page size when the connection field itself comes.
  let itemCost = 0;
  const estimate: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
    // Only on the query root (`__schema`/`__type` exist nowhere else); what is selected under them is included.
    if (field.name === "__schema") return introspection.schema;
    if (field.name === "__type") return introspection.type;
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
    if (!isListType(returns)) return surcharge + 1 + childComplexity;
    // A plain list counts as `ids.length` for nodes(ids:) (refused beyond the `maxItems` its field declares),
    // else as the `maxItems` its field declares, else as a page.
    const declared = typeof field.extensions?.maxItems === "number" ? field.extensions.maxItems : undefined;
    let count: number;
    if (Array.isArray(args.ids)) {
      count = args.ids.length;
      if (declared !== undefined && count > declared) {
        listTooLong ??= { field: `${type.name}.${field.name}`, found: count, maximum: declared };
      }
    } else {
      count = pageSize(declared);
    }
    return surcharge + count * (1 + childComplexity);
  };
  return { estimate, listTooLong: () => listTooLong };
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

function overLimit(requested: number, maximum: number): GraphQLError {
  const found = Number.isFinite(requested) ? `found ${requested}` : "too large to price";
  return new GraphQLError(`Query cost limit of ${maximum} exceeded, ${found}.`, {
    // requestedQueryCost is null (JSON's Infinity) when too large to price.
    extensions: {
      code: "QUERY_LIMIT_EXCEEDED",
      limit: "cost",
      cost: { requestedQueryCost: requested, maximumQueryCost: maximum },
    },
  });
}

function tooManyIds({ field, found, maximum }: ListTooLong): GraphQLError {
  return new GraphQLError(`${field} takes at most ${maximum} ids, found ${found}; ask in batches of ${maximum}.`, {
    extensions: { code: "QUERY_LIMIT_EXCEEDED", limit: "ids", field, maximum, found },
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
