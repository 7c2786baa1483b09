import { z } from "zod";
import { positiveInt } from "./variables.ts";

export const eventsConfig = z
  .object({ REPLY_EVENT_RETENTION: positiveInt(2000) })
  .transform((variables) => ({ events: { retentionPerSession: variables.REPLY_EVENT_RETENTION } }));
