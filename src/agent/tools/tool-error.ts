/**
 * A tool failure whose message is written for the user and the model: it says what went wrong in general terms
 * and carries no internals (hosts, addresses, provider error text). The detail goes in `cause`, for the log. Any
 * other error a tool throws is reported as "an unexpected error" (see nodes/run-tools.ts).
 */
export class ToolError extends Error {
  override readonly name = "ToolError";
}
