import { builder } from "./builder.ts";

builder.prismaObject("ToolCall", {
  description: "A tool the agent ran while writing a reply (kept with the reply, in the order they started).",
  fields: (t) => ({
    toolCallId: t.exposeString("callId"),
    name: t.exposeString("name"),
    arguments: t.expose("arguments", { type: "JSON" }),
    result: t.exposeString("result", { nullable: true, description: "Null while the tool runs." }),
    isError: t.exposeBoolean("isError"),
    startedAt: t.expose("startedAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
  }),
});
