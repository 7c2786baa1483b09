// Runs cases through the real reply pipeline: the app itself (same graph, tools, memory, model path and
// resilience as production) on a throwaway embedded database, driven over GraphQL like any client.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "graphql-ws";
import { DEV_MODEL_NAME } from "../../src/agent/models/dev-chat-model.ts";
import { startApp, type App } from "../../src/app.ts";
import { loadConfig, type AppConfig } from "../../src/config/index.ts";
import { createLogger } from "../../src/observability/logger.ts";
import type { TurnResult, Transcript } from "./checks.ts";
import type { EvalCase } from "./dataset.ts";
import { CREATE_SESSION, REGISTER, request, SEND, STREAM, streamClient } from "./client.ts";

export interface EvalApp {
  config: AppConfig;
  /** e.g. offline-dev-model, or LLM_MODEL */
  model: string;
  run(evalCase: EvalCase): Promise<Transcript>;
  stop(): Promise<void>;
}

/**
 * The app as configured by `env` (the model and its fallbacks, tools, memory, prompts), except where evals must not
 * touch or be stopped by production state: its own database and data dir, no Redis, rate limits and quotas out of
 * the way, quiet logs.
 */
export async function startEvalApp(env: Record<string, string | undefined>): Promise<EvalApp> {
  const dataDir = await mkdtemp(join(tmpdir(), "agent-api-evals-"));
  const { DATABASE_URL: _database, REDIS_URL: _redis, ...rest } = env;
  const config = loadConfig({
    ...rest,
    APP_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    DATA_DIR: dataDir,
    JWT_SECRET: undefined,
    // Sign-up is not under test: cheap hashing.
    ARGON2_MEMORY_KIB: "8192",
    ARGON2_TIME_COST: "2",
    RATE_LIMIT_AUTH_PER_15_MIN: "1000000",
    RATE_LIMIT_SEND_PER_MIN: "1000000",
    RATE_LIMIT_QUERY_COST_PER_MIN: "100000000",
    LLM_DAILY_TOKEN_LIMIT: "100000000",
    LOG_LEVEL: env.EVAL_LOG_LEVEL ?? "silent",
  });
  let app: App;
  try {
    app = await startApp(config, createLogger(config.logLevel));
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const graphqlUrl = `${app.url}/graphql`;
  const wsUrl = graphqlUrl.replace(/^http/, "ws");
  return {
    config,
    model: config.llm.apiKey ? config.llm.model : DEV_MODEL_NAME,
    async run(evalCase) {
      const email = `evals-${randomUUID()}@example.com`;
      const password = `Ev-${randomUUID().slice(0, 12)}!a1`;
      const { register } = await request<{ register: { token: string } }>(graphqlUrl, REGISTER, {
        input: { email, password },
      });
      const client = streamClient(wsUrl, register.token);
      try {
        const setup: TurnResult[] = [];
        if (evalCase.memories.length > 0) {
          const sessionId = await createSession(graphqlUrl, register.token);
          for (const statement of evalCase.memories)
            setup.push(await converse(graphqlUrl, client, register.token, sessionId, statement));
          // Extraction runs after each reply; the case's own session starts once it has stored what it found.
          await app.memories.idle();
        }
        const sessionId = await createSession(graphqlUrl, register.token);
        const turns: TurnResult[] = [];
        for (const turn of evalCase.turns)
          turns.push(await converse(graphqlUrl, client, register.token, sessionId, turn));
        return { setup, turns };
      } finally {
        await client.dispose();
      }
    },
    async stop() {
      await app.stop({ graceMs: 1_000 });
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function createSession(url: string, token: string): Promise<string> {
  const data = await request<{ createSession: { session: { id: string } } }>(url, CREATE_SESSION, {}, token);
  return data.createSession.session.id;
}

interface FinalMessage {
  content: string;
  status: string;
  errorCode: string | null;
  model: string | null;
  outputTokens: number | null;
  toolCalls: Array<{ name: string; result: string | null; isError: boolean }>;
}

interface StreamEvent {
  __typename: string;
  messageId: string;
  delta?: string;
  message?: FinalMessage;
  code?: string;
  reason?: string;
}

/** Sends one user message and follows its reply to the final event. */
async function converse(
  url: string,
  client: Client,
  token: string,
  sessionId: string,
  content: string,
): Promise<TurnResult> {
  const sent = await request<{ sendMessage: { reply: { id: string }; streamCursor: string } }>(
    url,
    SEND,
    { input: { sessionId, content } },
    token,
  );
  const started = performance.now();
  const replyId = sent.sendMessage.reply.id;
  let firstTokenMs: number | null = null;
  let text = "";
  const stream = client.iterate<{ messageStream: StreamEvent }>({
    query: STREAM,
    variables: { sessionId, after: sent.sendMessage.streamCursor },
  });
  try {
    for await (const { data, errors } of stream) {
      if (errors?.length) throw new Error(`messageStream: ${errors[0]!.message}`);
      const event = data!.messageStream;
      if (event.messageId !== replyId) continue;
      if (event.__typename === "MessageDelta") {
        firstTokenMs ??= Math.round(performance.now() - started);
        text += event.delta;
      } else if (event.__typename === "MessageCompleted" || event.__typename === "MessageCancelled") {
        const { content: reply, ...message } = event.message!;
        return { user: content, reply, ...message, firstTokenMs, latencyMs: Math.round(performance.now() - started) };
      } else if (event.__typename === "MessageFailed") {
        return {
          user: content,
          reply: text,
          status: "FAILED",
          errorCode: event.code ?? null,
          model: null,
          outputTokens: null,
          toolCalls: [],
          firstTokenMs,
          latencyMs: Math.round(performance.now() - started),
        };
      }
    }
  } finally {
    await stream.return?.();
  }
  throw new Error("messageStream ended before the reply's final event");
}
