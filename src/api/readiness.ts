import { withDeadline } from "../observability/deadline.ts";
import type { Logger } from "../observability/logger.ts";

/** Resolves when the dependency answers; rejects (or never settles) when it does not. */
export type DependencyCheck = () => Promise<unknown>;

export interface Readiness {
  ready: boolean;
  /** Per dependency: "ok", "failed" or "timeout". Details go to the log, not to the (public) response. */
  checks: Record<string, "ok" | "failed" | "timeout">;
}

/**
 * The checks behind /ready (and the `app_dependency_up` gauge): each dependency must answer within `timeoutMs`.
 * A dependency that goes down or comes back is logged once per change, not once per probe.
 */
export function readinessProbe(
  checks: Record<string, DependencyCheck>,
  logger: Logger,
  timeoutMs = 2_000,
): () => Promise<Readiness> {
  const last = new Map<string, string>();
  const run = async (name: string, check: DependencyCheck): Promise<[string, Readiness["checks"][string]]> => {
    let detail: unknown;
    const answered = check().then(
      () => "ok" as const,
      (error: unknown) => {
        detail = error;
        return "failed" as const;
      },
    );
    const outcome = await withDeadline(answered, timeoutMs, () => "timeout" as const);
    if (last.get(name) !== outcome) {
      if (outcome === "ok") {
        if (last.has(name)) logger.info({ dependency: name }, "dependency reachable again");
      } else logger.warn({ dependency: name, outcome, err: detail }, "dependency unreachable: not ready");
      last.set(name, outcome);
    }
    return [name, outcome];
  };
  return async () => {
    const results = await Promise.all(Object.entries(checks).map(([name, check]) => run(name, check)));
    return { ready: results.every(([, outcome]) => outcome === "ok"), checks: Object.fromEntries(results) };
  };
}
