// How a variable's text becomes a value, shared by every concern's schema; and how a concern refuses a value that
// parses but is unsafe where the app runs.
import { z } from "zod";

/** Unset, empty and blank all mean "not set". */
export const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === "" ? undefined : value))
  .optional();

export const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** `true` | `false`; unset is undefined, so the concern picks its own default (often one per environment). */
export const flag = z
  .enum(["true", "false"])
  .transform((value) => value === "true")
  .optional();

/**
 * A value that parses but is refused where the app runs (a weak secret, CORS "*" in production...). loadConfig
 * reports these only when every value parses, under a heading that names the environment.
 */
export function refuse(ctx: z.RefinementCtx, variable: string, message: string): void {
  ctx.addIssue({ code: "custom", path: [variable], message, params: { refusal: true } });
}

export function isRefusal(issue: z.core.$ZodIssue): boolean {
  return issue.code === "custom" && issue.params?.refusal === true;
}
