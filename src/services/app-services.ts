import type { AccountService } from "./accounts.ts";
import type { ApiKeyService } from "./api-keys.ts";
import type { FeedbackService } from "./feedback.ts";
import type { LoginService } from "./logins.ts";
import type { MemoryService } from "./memories.ts";
import type { MessageService } from "./messages.ts";
import type { ReplyEventBus } from "../persistence/events/reply-events.ts";
import type { SessionService } from "./sessions.ts";
import type { UsageService } from "./usage.ts";

/** The use cases the API layer may call; built once by the composition root. */
export interface AppServices {
  accounts: AccountService;
  logins: LoginService;
  apiKeys: ApiKeyService;
  sessions: SessionService;
  messages: MessageService;
  usage: UsageService;
  memories: MemoryService;
  replyEvents: ReplyEventBus;
  feedback: FeedbackService;
}
