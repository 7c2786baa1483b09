import { createCounter, createHistogram, usePrometheus, type FillLabelsFnParams } from "@envelop/prometheus";
import type { Plugin } from "graphql-yoga";
import type { Registry } from "prom-client";
import { boundedLabel } from "../../observability/metrics.ts";
import { errorCodeLabel } from "./error-code-label.ts";

export interface GraphQLMetricsPluginOptions {
  registry: Registry;
  /**
   * Distinct operation names kept as label values; later names (and names that are not plain GraphQL names)
   * count as `other`. Clients choose operation names, so without a cap they would be unbounded.
   * @default 200
   */
  maxOperationNames?: number;
}

/** Seconds; a query or mutation (subscriptions: until their stream starts). */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * @envelop/prometheus with bounded labels. The metric names are the plugin's own (`graphql_envelop_*`); what
 * differs from its defaults: operation names are capped, errors carry their `code` (not the `path`, whose list
 * indices are unbounded), and the per-phase histograms are by operation type only.
 *
 * - `graphql_envelop_request{operationType,operationName}`: operations run (queries, mutations, subscriptions)
 * - `graphql_envelop_request_duration{operationType,operationName}`: histogram in seconds
 * - `graphql_envelop_error_result{operationType,operationName,phase,code}`: one per error in a result
 * - `graphql_envelop_phase_{parse,validate,execute,subscribe}{operationType}`: histograms per phase
 */
export function useGraphQLMetrics({ registry, maxOperationNames = 200 }: GraphQLMetricsPluginOptions): Plugin {
  const operationName = boundedLabel(maxOperationNames);
  const byOperation = (params: FillLabelsFnParams) => ({
    operationType: params.operationType ?? "unknown",
    operationName: operationName(params.operationName),
  });
  const byType = (params: FillLabelsFnParams) => ({ operationType: params.operationType ?? "unknown" });
  const phase = <P extends "parse" | "validate" | "execute" | "subscribe">(
    name: `graphql_envelop_phase_${P}`,
    help: string,
  ) =>
    createHistogram<P, "operationType">({
      registry,
      histogram: { name, help, labelNames: ["operationType"], buckets: REQUEST_BUCKETS },
      fillLabelsFn: byType,
    });

  return usePrometheus({
    registry,
    metrics: {
      graphql_envelop_request: createCounter({
        registry,
        counter: {
          name: "graphql_envelop_request",
          help: "GraphQL operations run, by type and (bounded) name",
          labelNames: ["operationType", "operationName"],
        },
        fillLabelsFn: byOperation,
      }),
      graphql_envelop_request_duration: createHistogram({
        registry,
        histogram: {
          name: "graphql_envelop_request_duration",
          help: "Duration of GraphQL operations in seconds (subscriptions: until the stream starts)",
          labelNames: ["operationType", "operationName"],
          buckets: REQUEST_BUCKETS,
        },
        fillLabelsFn: byOperation,
      }),
      graphql_envelop_error_result: createCounter({
        registry,
        counter: {
          name: "graphql_envelop_error_result",
          help: "Errors in GraphQL results, by phase and code (INTERNAL_SERVER_ERROR: unexpected, masked)",
          labelNames: ["operationType", "operationName", "phase", "code"],
        },
        fillLabelsFn: (params: FillLabelsFnParams & { errorPhase?: string; error?: unknown }) => ({
          ...byOperation(params),
          phase: params.errorPhase ?? "unknown",
          code: errorCodeLabel(params.error),
        }),
      }),
      graphql_envelop_phase_parse: phase("graphql_envelop_phase_parse", "Time spent parsing operations, in seconds"),
      graphql_envelop_phase_validate: phase(
        "graphql_envelop_phase_validate",
        "Time spent validating operations, in seconds",
      ),
      graphql_envelop_phase_execute: phase(
        "graphql_envelop_phase_execute",
        "Time spent executing queries and mutations, in seconds",
      ),
      graphql_envelop_phase_subscribe: phase(
        "graphql_envelop_phase_subscribe",
        "Time spent starting subscriptions, in seconds",
      ),
    },
  }) as Plugin;
}
