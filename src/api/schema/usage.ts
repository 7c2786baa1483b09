import type { DailyUsage } from "../../services/usage.ts";
import { builder } from "./builder.ts";
import { User } from "./user.ts";

const Usage = builder.objectRef<DailyUsage>("Usage").implement({
  description: "Model tokens spent today (UTC) against the daily quota; sendMessage is QUOTA_EXCEEDED once it is used up.",
  fields: (t) => ({
    tokensUsed: t.exposeInt("tokensUsed", { description: "Input plus output tokens of today's replies." }),
    tokenLimit: t.exposeInt("tokenLimit"),
    tokensRemaining: t.int({ resolve: (usage) => Math.max(0, usage.tokenLimit - usage.tokensUsed) }),
    resetsAt: t.expose("resetsAt", { type: "DateTime", description: "The next UTC midnight." }),
  }),
});

builder.objectField(User, "usage", (t) =>
  t.field({ type: Usage, resolve: (user, _args, context) => context.services.usage.today(user.id) }),
);
