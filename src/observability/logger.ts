import { pino, type Logger } from "pino";

export type { Logger };

/** Structured JSON logs. Secrets and message bodies are redacted wherever they appear by these names. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: ["password", "*.password", "token", "*.token", "authorization", "*.authorization", "content", "*.content"],
      censor: "[redacted]",
    },
  });
}
