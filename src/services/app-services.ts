import type { AccountService } from "./accounts.ts";
import type { MessageService } from "./messages.ts";
import type { ReplyEventBus } from "./reply-events.ts";
import type { SessionService } from "./sessions.ts";

/** The use cases the API layer may call; built once by the composition root. */
export interface AppServices {
  accounts: AccountService;
  sessions: SessionService;
  messages: MessageService;
  replyEvents: ReplyEventBus;
}
