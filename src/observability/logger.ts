import { createRequire } from "node:module";
import { pino, type DestinationStream, type Logger } from "pino";
import { currentLogContext } from "./log-context.ts";

export type { Logger };

/**
 * Never written as they are, wherever they appear at these paths: credentials and what users write or read.
 * (`err` objects are serialized by pino; their messages are ours and carry ids, not content.)
 */
const REDACTED_PATHS = [
  "password",
  "*.password",
  "newPassword",
  "*.newPassword",
  "token",
  "*.token",
  "refreshToken",
  "*.refreshToken",
  "accessToken",
  "*.accessToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "headers.cookie",
  "*.headers.cookie",
  "apiKey",
  "*.apiKey",
  "secret",
  "*.secret",
  "content",
  "*.content",
  "delta",
  "*.delta",
  "userMessage",
  "*.userMessage",
  "variables",
  "*.variables",
  "arguments",
  "*.arguments",
  "result",
  "*.result",
];

export interface LoggerOptions {
  /** pino-pretty output when it is installed (a dev dependency); JSON lines otherwise. @default false */
  pretty?: boolean;
  /** Where lines go instead of stdout (tests). */
  destination?: DestinationStream;
}

/**
 * Structured JSON logs at `level`, one object per line. Every line written inside a request or a reply run
 * carries its ids (requestId, userId, sessionId, messageId: see log-context.ts). Secrets and message bodies are
 * redacted by the names above.
 */
export function createLogger(level: string, { pretty = false, destination }: LoggerOptions = {}): Logger {
  const options = {
    level,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    mixin: currentLogContext,
  };
  if (pretty && !destination && prettyAvailable()) {
    return pino({
      ...options,
      transport: { target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } },
    });
  }
  return destination ? pino(options, destination) : pino(options);
}

/** pino-pretty is a dev dependency: production images (`npm ci --omit=dev`) do not have it, and log JSON. */
function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve("pino-pretty");
    return true;
  } catch {
    return false;
  }
}
