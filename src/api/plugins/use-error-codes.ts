import { handleStreamOrSingleExecutionResult, type OnExecuteDoneHookResultOnNextHook } from "@envelop/core";
import { PothosValidationError } from "@pothos/core";
import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import { RateLimitedError } from "../../security/rate-limits.ts";
import { AppError } from "../../services/errors.ts";
import { rateLimitedExtensions } from "./use-rate-limits.ts";

/**
 * Gives expected errors their documented `extensions.code` before Yoga's masking runs: use-case errors
 * (AppError) and argument errors Pothos raises (malformed or wrong-type global ids). Anything left
 * without a code is unexpected, and Yoga masks and logs it.
 */
export function useErrorCodes(): Plugin {
  const codeErrors: OnExecuteDoneHookResultOnNextHook<object> = ({ result, setResult }) => {
    if (result.errors?.length) setResult({ ...result, errors: result.errors.map(withCode) });
  };
  return {
    onExecute: () => ({ onExecuteDone: (payload) => handleStreamOrSingleExecutionResult(payload, codeErrors) }),
    onSubscribe: () => ({
      onSubscribeResult: (payload) => handleStreamOrSingleExecutionResult(payload, codeErrors),
    }),
  };
}

/** graphql-js's own wording for variables that do not fit their declared types (coerced before any resolver). */
const VARIABLE_COERCION = /^Variable "\$[_A-Za-z][_0-9A-Za-z]*" (got invalid value|of required type|of non-null type)/;

function withCode(error: GraphQLError): GraphQLError {
  const original = error.originalError;
  if (!error.extensions.code && VARIABLE_COERCION.test(error.message)) {
    return rebuild(error, error.message, { code: "BAD_USER_INPUT" });
  }
  if (original instanceof AppError)
    return rebuild(error, original.message, { code: original.code, ...original.details });
  if (original instanceof RateLimitedError) return rebuild(error, original.message, rateLimitedExtensions(original));
  if (original instanceof PothosValidationError || error instanceof PothosValidationError) {
    return rebuild(error, (original ?? error).message, { code: "BAD_USER_INPUT" });
  }
  return error;
}

function rebuild(error: GraphQLError, message: string, extensions: Record<string, unknown>): GraphQLError {
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions: { ...error.extensions, ...extensions },
  });
}
