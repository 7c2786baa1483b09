import { randomUUID } from "node:crypto";
import { GraphQLError, type ExecutionResult } from "graphql";
import { handleStreamOrSingleExecutionResult, isAsyncIterable, maskError, type Plugin } from "graphql-yoga";
import { isAbortError } from "../../observability/deadline.ts";
import { bindLogContext } from "../../observability/log-context.ts";
import type { Logger } from "../../observability/logger.ts";

export interface RequestIdPluginOptions {
  /** Unexpected errors are logged here, once each, with their request id. */
  logger: Logger;
  /**
   * Masked errors keep the original message and stack in `extensions.originalError`, as Yoga's
   * `maskedErrors.isDev` does (development/test only).
   * @default false
   */
  exposeErrorDetails?: boolean;
}

const REQUEST_ID_HEADER = "x-request-id";

/** A client's id is reused only when it cannot smuggle anything into log lines or headers. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

interface RequestIdContext {
  request?: Request;
  requestId?: string;
}

/**
 * One id per HTTP request (the client's `x-request-id` when sane, else a UUID) or per graphql-ws operation:
 * in `context.requestId`, in the `x-request-id` response header and in `extensions.requestId` of every error.
 *
 * Unexpected errors are masked here rather than by Yoga: Yoga's masking knows no request, so its log line could
 * not carry the id. Yoga's masking still runs afterwards, sees only GraphQL errors and logs nothing twice.
 */
export function useRequestId({ logger, exposeErrorDetails = false }: RequestIdPluginOptions): Plugin<RequestIdContext> {
  const requestIds = new WeakMap<Request, string>();
  const idOf = (request: Request): string => {
    let id = requestIds.get(request);
    if (!id) {
      const sent = request.headers.get(REQUEST_ID_HEADER);
      id = sent && SANE_REQUEST_ID.test(sent) ? sent : randomUUID();
      requestIds.set(request, id);
    }
    return id;
  };

  const settle = (error: unknown, requestId: string | undefined): GraphQLError => {
    if (isOriginalGraphQLError(error)) return withRequestId(error, requestId);
    const cause = error instanceof GraphQLError ? (error.originalError ?? error) : error;
    logger.error({ err: cause, requestId, path: (error as Partial<GraphQLError>)?.path }, "Unexpected error");
    return withRequestId(maskError(error, "Unexpected error.", exposeErrorDetails) as GraphQLError, requestId);
  };
  const settleResult = (result: ExecutionResult, requestId: string | undefined): ExecutionResult =>
    result.errors?.length ? { ...result, errors: result.errors.map((error) => settle(error, requestId)) } : result;
  // Parse and validate refusals are thrown (armor limits, Yoga's cached parse errors) and reach no result hook;
  // instrumentation wraps the whole call, so graphql-ws operations get them tagged as well.
  const settleThrown = ({ context }: { context: RequestIdContext }, wrapped: () => void) => {
    try {
      wrapped();
    } catch (error) {
      throw settle(error, context.requestId);
    }
  };

  return {
    onEnveloped({ context, extendContext }) {
      // graphql-ws has no fetch Request: each of its operations gets an id of its own.
      if (!context) return;
      const requestId = context.requestId ?? (context.request ? idOf(context.request) : randomUUID());
      bindLogContext({ requestId });
      extendContext({ requestId });
    },
    onPluginInit({ registerContextErrorHandler }) {
      // Registered before Yoga's own handler, so a failing context factory is masked here, with the id.
      registerContextErrorHandler(({ context, error, setError }) => {
        setError(settle(error, (context as RequestIdContext).requestId));
      });
    },
    instrumentation: { parse: settleThrown, validate: settleThrown },
    onValidate:
      ({ context }) =>
      ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((error) => settle(error, context.requestId)));
      },
    onExecute: ({ args }) => ({
      onExecuteDone: (payload) =>
        handleStreamOrSingleExecutionResult(payload, ({ result, setResult }) =>
          setResult(settleResult(result, (args.contextValue as RequestIdContext).requestId)),
        ),
    }),
    onSubscribe: ({ args }) => {
      const { requestId } = args.contextValue as RequestIdContext;
      return {
        onSubscribeResult: (payload) =>
          handleStreamOrSingleExecutionResult(payload, ({ result, setResult }) =>
            setResult(settleResult(result, requestId)),
          ),
        onSubscribeError: ({ error, setError }) => {
          if (!isAbortError(error)) setError(settle(error, requestId));
        },
      };
    },
    // Over HTTP this also reaches errors raised before any operation: CSRF, malformed body, batching, size.
    onResultProcess({ request, result, setResult }) {
      if (isAsyncIterable(result)) return; // Streamed events were settled as they were produced.
      const requestId = idOf(request);
      setResult(
        Array.isArray(result) ? result.map((one) => settleResult(one, requestId)) : settleResult(result, requestId),
      );
    },
    onResponse({ request, response }) {
      response.headers.set(REQUEST_ID_HEADER, idOf(request));
    },
  };
}

function withRequestId(error: GraphQLError, requestId: string | undefined): GraphQLError {
  if (!requestId || error.extensions.requestId === requestId) return error;
  // A copy, never a mutation: Yoga caches parse and validation errors and hands the same objects to every request.
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, requestId },
  });
}

/** Yoga's test: a GraphQL error all the way down was raised on purpose and is shown as is. */
function isOriginalGraphQLError(error: unknown): error is GraphQLError {
  if (!(error instanceof GraphQLError)) return false;
  return error.originalError == null || isOriginalGraphQLError(error.originalError);
}
