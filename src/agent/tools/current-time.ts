import { tool } from "@langchain/core/tools";
import { z } from "zod";
import { ToolError } from "./tool-error.ts";

/** The date and time now in an IANA time zone; models otherwise guess from their training cut-off. */
export function createCurrentTimeTool(now: () => Date = () => new Date()) {
  return tool(
    async ({ timeZone }) => {
      const zone = timeZone ?? "UTC";
      let format: Intl.DateTimeFormat;
      try {
        format = new Intl.DateTimeFormat("en-CA", {
          timeZone: zone,
          dateStyle: "full",
          timeStyle: "long",
          hourCycle: "h23",
        });
      } catch (error) {
        // The model's own argument: the tools node hands this back to it, so it can try another zone.
        throw new ToolError(`unknown time zone "${zone}"`, { cause: error });
      }
      return `${format.format(now())} (${zone})`;
    },
    {
      name: "current_time",
      description: "The current date and time, in an IANA time zone such as Europe/Paris (default UTC).",
      schema: z.object({ timeZone: z.string().max(64).optional().describe("IANA time zone, e.g. America/New_York") }),
    },
  );
}
