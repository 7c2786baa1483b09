import { getOperationAST } from "graphql";
import { handleStreamOrSingleExecutionResult, type Plugin } from "graphql-yoga";
import type { Logger } from "../../observability/logger.ts";
import { errorCodeLabel } from "./error-code-label.ts";

export interface OperationLogPluginOptions {
  logger: Logger;
  /**
   * pino level of the per-operation line.
   * @default "debug"
   */
  level?: "debug" | "info";
}

/**
 * One line per query or mutation: its type, name, duration and error codes, never its variables or result.
 * The request's ids come from the log context. Subscriptions log when they start.
 */
export function useOperationLog({ logger, level = "debug" }: OperationLogPluginOptions): Plugin {
  const line = (args: { document: Parameters<typeof getOperationAST>[0]; operationName?: string | null }) => {
    const operation = getOperationAST(args.document, args.operationName);
    return {
      operationType: operation?.operation,
      operationName: operation?.name?.value ?? args.operationName ?? undefined,
    };
  };
  return {
    onExecute({ args }) {
      if (!logger.isLevelEnabled(level)) return;
      const started = performance.now();
      return {
        onExecuteDone: (payload) =>
          handleStreamOrSingleExecutionResult(payload, ({ result }) => {
            const errors = result.errors?.map(errorCodeLabel);
            const durationMs = Math.round((performance.now() - started) * 10) / 10;
            logger[level]({ ...line(args), durationMs, ...(errors?.length ? { errors } : {}) }, "graphql operation");
          }),
      };
    },
    onSubscribe({ args }) {
      if (logger.isLevelEnabled(level)) logger[level](line(args), "graphql subscription");
    },
  };
}
