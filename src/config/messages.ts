import { z } from "zod";
import { positiveInt } from "./variables.ts";

export const messagesConfig = z
  .object({ MAX_MESSAGE_CHARS: positiveInt(10_000) })
  .transform((variables) => ({ messages: { maxChars: variables.MAX_MESSAGE_CHARS } }));
