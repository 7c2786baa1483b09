import type { DailyUsage } from "../../services/usage.ts";
import { builder } from "./builder.ts";
import { User } from "./user.ts";

const Usage = builder.objectRef<DailyUsage>("Usage").implement({
  description:
    "Model tokens spent today (UTC) against the daily quota; sendMessage is QUOTA_EXCEEDED once it is used up.",
  fields: (t) => ({
    tokensUsed: t.exposeInt("tokensUsed", {
      description:
        "Input plus output tokens of today's model calls (replies and memory extraction), charged as each call ends.",
    }),
    tokensReserved: t.exposeInt("tokensReserved", {
      description: "Held by replies still being written (about one model call each); released as each one ends.",
    }),
    tokenLimit: t.exposeInt("tokenLimit"),
    tokensRemaining: t.int({
      description: "What a new message may still use: the limit less the tokens used and reserved.",
      resolve: (usage) => Math.max(0, usage.tokenLimit - usage.tokensUsed - usage.tokensReserved),
    }),
    resetsAt: t.expose("resetsAt", { type: "DateTime", description: "The next UTC midnight." }),
  }),
});

builder.objectField(User, "usage", (t) =>
  t.field({ type: Usage, resolve: (user, _args, context) => context.services.usage.today(user.id) }),
);
