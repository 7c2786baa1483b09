import { tool } from "@langchain/core/tools";
import { z } from "zod";

/** The date and time now in an IANA time zone; models otherwise guess from their training cut-off. */
export function createCurrentTimeTool(now: () => Date = () => new Date()) {
  return tool(
    async ({ timeZone }) => {
      const zone = timeZone ?? "UTC";
      // Throws RangeError for an unknown zone; the tools node hands that back to the model as an error result.
      const format = new Intl.DateTimeFormat("en-CA", {
        timeZone: zone,
        dateStyle: "full",
        timeStyle: "long",
        hourCycle: "h23",
      });
      return `${format.format(now())} (${zone})`;
    },
    {
      name: "current_time",
      description: "The current date and time, in an IANA time zone such as Europe/Paris (default UTC).",
      schema: z.object({ timeZone: z.string().max(64).optional().describe("IANA time zone, e.g. America/New_York") }),
    },
  );
}
