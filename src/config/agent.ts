// The agent: its name, what a send does while a reply streams, and its tools.
import { z } from "zod";
import { optionalString, positiveInt, refuse } from "./variables.ts";

export const agentConfig = z
  .object({
    AGENT_NAME: z.string().trim().min(1).default("Ada"),
    SEND_WHILE_STREAMING: z.enum(["reject", "queue"]).default("reject"),
    WEB_SEARCH_PROVIDER: z.enum(["duckduckgo", "searxng", "off"]).default("duckduckgo"),
    WEB_SEARCH_URL: optionalString,
    TOOL_TIMEOUT_MS: positiveInt(10_000),
  })
  .transform((variables, ctx) => {
    if (variables.WEB_SEARCH_PROVIDER === "searxng" && !variables.WEB_SEARCH_URL) {
      refuse(ctx, "WEB_SEARCH_URL", "required when WEB_SEARCH_PROVIDER=searxng (the SearXNG instance's base URL)");
    }
    return {
      agent: {
        name: variables.AGENT_NAME,
        /** What sendMessage does while the session's previous reply still streams: SESSION_BUSY, or wait its turn. */
        sendWhileStreaming: variables.SEND_WHILE_STREAMING,
        tools: {
          webSearch: { provider: variables.WEB_SEARCH_PROVIDER, url: variables.WEB_SEARCH_URL },
          timeoutMs: variables.TOOL_TIMEOUT_MS,
        },
      },
    };
  });
