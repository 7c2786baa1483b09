// The composition root: builds every dependency once and hands it down. The only file that knows them all.
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { buildAgentGraph } from "./agent/graph.ts";
import { createEmbeddings } from "./agent/memory/embeddings.ts";
import { createChatModel, resiliencePolicy } from "./agent/models/chat-model.ts";
import { ResilientChatModel } from "./agent/models/resilient-chat.ts";
import { createTools } from "./agent/tools/index.ts";
import { LangGraphReplyAgent } from "./agent/reply-agent.ts";
import { attachGraphQLWs } from "./api/graphql-ws.ts";
import { createHttpServer } from "./api/http-server.ts";
import { createYogaServer } from "./api/yoga.ts";
import type { AppConfig } from "./config/index.ts";
import { PrismaCheckpointSaver } from "./persistence/checkpointer.ts";
import { openDatabase } from "./persistence/database.ts";
import { createLogger, type Logger } from "./observability/logger.ts";
import { createMetrics } from "./observability/metrics.ts";
import { createTracing } from "./observability/tracing.ts";
import { PasswordHasher } from "./security/passwords.ts";
import { RateLimits } from "./security/rate-limits.ts";
import { MemoryBroadcast, RedisBroadcast } from "./persistence/broadcast.ts";
import { RevocationFeed } from "./security/revocations.ts";
import { loadOrCreateDevSecret } from "./security/secrets.ts";
import { TokenService } from "./security/tokens.ts";
import { AccountService } from "./services/accounts.ts";
import { LoginService } from "./services/logins.ts";
import { MemoryService } from "./services/memories.ts";
import { MessageService } from "./services/messages.ts";
import { connectRedis, RedisReplyEventBus } from "./services/redis-reply-events.ts";
import { MemoryReplyEventBus, type ReplyEventBus } from "./services/reply-events.ts";
import { ReplyService } from "./services/replies.ts";
import { SessionService } from "./services/sessions.ts";
import { UsageService } from "./services/usage.ts";

const CHECKPOINTS_KEPT_PER_SESSION = 10;

export interface App {
  /** Base URL once listening, e.g. http://localhost:4000 */
  url: string;
  database: "postgresql" | "pglite";
  logger: Logger;
  /** Long-term memory; tests await its background extractions with `memories.idle()`. */
  memories: MemoryService;
  stop(options?: { graceMs?: number }): Promise<void>;
}

export async function startApp(config: AppConfig, logger: Logger = createLogger(config.logLevel)): Promise<App> {
  const database = await openDatabase({ ...config.database, dataDir: config.dataDir });
  if (database.appliedMigrations.length > 0) logger.info({ migrations: database.appliedMigrations }, "migrations applied");
  const { prisma } = database;

  const metrics = createMetrics();
  const jwtSecret = config.auth.jwtSecret ?? (await loadOrCreateDevSecret(config.dataDir));
  const tokens = new TokenService(jwtSecret, config.auth.accessTokenTtlSeconds);
  const models = createChatModel(config.llm);
  const primaryModel = models[0]!.name;
  if (!config.llm.apiKey && config.env !== "development" && config.env !== "test") {
    logger.warn("OPENAI_API_KEY is not set: replies come from the offline dev model");
  }
  const memories = new MemoryService(prisma, models[0]!.model, logger, {
    extractionQueueMax: config.memory.extractionQueueMax,
    recallLimit: config.memory.recallLimit,
    embeddings: createEmbeddings({ ...config.llm, model: config.memory.embeddingsModel }),
  });
  if (config.memory.embeddingsModel) logger.info({ recall: await memories.prepare() }, "memory recall");
  const checkpointer = new PrismaCheckpointSaver(prisma);
  const tracing = createTracing(config.langfuse, logger);
  const graph = buildAgentGraph({
    chat: new ResilientChatModel(models, resiliencePolicy(config.llm)),
    tools: createTools(config.agent.tools),
    agentName: config.agent.name,
    historyTokenBudget: config.llm.historyTokenBudget,
    toolTimeoutMs: config.agent.tools.timeoutMs,
    checkpointer,
  });
  const agent = new LangGraphReplyAgent(graph, primaryModel);

  const redis = config.redis.url ? connectRedis(config.redis.url) : undefined;
  const replyEvents: ReplyEventBus = redis
    ? new RedisReplyEventBus(redis, config.events.retentionPerSession, config.redis.keyPrefix)
    : new MemoryReplyEventBus(config.events.retentionPerSession);
  const { trustedProxyHops, ...bucketLimits } = config.rateLimits;
  const rateLimits = new RateLimits(bucketLimits, { redis, keyPrefix: config.redis.keyPrefix });
  const broadcast = redis ? new RedisBroadcast(redis, config.redis.keyPrefix) : new MemoryBroadcast();
  const revocations = new RevocationFeed(broadcast);
  const usage = new UsageService(prisma, config.llm.dailyTokenLimit);
  const replies = new ReplyService(prisma, agent, replyEvents, logger, metrics, usage, broadcast, {
    callbacksFor: (job) => tracing.callbacksFor(job),
    afterReply: ({ sessionId }) => {
      // Only the latest checkpoint is read back; a few more are kept for debugging a thread.
      checkpointer
        .pruneThread(sessionId, CHECKPOINTS_KEPT_PER_SESSION)
        .catch((error: unknown) => logger.warn({ err: error, sessionId }, "could not prune checkpoints"));
    },
  });
  const interrupted = await replies.markInterrupted();
  if (interrupted > 0) logger.warn({ count: interrupted }, "replies cut off by the previous shutdown marked INTERRUPTED");

  const sessions = new SessionService(prisma, (sessionId) => checkpointer.deleteThread(sessionId));
  const logins = new LoginService(prisma, tokens, revocations, config.auth.refreshTokenTtlSeconds);
  const services = {
    accounts: new AccountService(prisma, new PasswordHasher(config.auth.argon2), logins, rateLimits),
    logins,
    sessions,
    messages: new MessageService(prisma, sessions, replies, replyEvents, usage, {
      modelName: primaryModel,
      maxChars: config.messages.maxChars,
      sendWhileStreaming: config.agent.sendWhileStreaming,
    }),
    usage,
    memories,
    replyEvents,
  };

  const yoga = createYogaServer({
    prisma,
    services,
    revocations,
    rateLimits,
    trustedProxyHops,
    metrics,
    logger,
    graphiql: config.server.graphiql,
    allowedOrigins: config.server.allowedOrigins,
    maxRequestBodyBytes: config.server.maxRequestBodyBytes,
    isProduction: config.env === "production",
    exposeErrorDetails: config.env === "development" || config.env === "test",
    limits: config.limits,
    introspection: config.schema.introspection,
    fieldSuggestions: config.schema.fieldSuggestions,
  });
  const httpServer = createHttpServer(yoga, metrics.registry);
  const ws = attachGraphQLWs(httpServer, yoga, { metrics, logins, revocations });
  httpServer.listen(config.server.port, config.server.host);
  await once(httpServer, "listening");
  const { port } = httpServer.address() as AddressInfo;
  const url = `http://localhost:${port}`;
  const events = config.redis.url ? "redis" : "in-process";
  logger.info({ url: `${url}/graphql`, database: database.kind, events, model: primaryModel }, "agent API ready");

  return {
    url,
    database: database.kind,
    logger,
    memories,
    async stop({ graceMs = 10_000 } = {}) {
      const deadline = Date.now() + graceMs;
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await replies.drain(graceMs);
      // Finishing replies queue extractions too; they get what is left of the grace (at least a second).
      await memories.drain(Math.max(1_000, deadline - Date.now()));
      await tracing.shutdown();
      await ws.close();
      httpServer.closeAllConnections();
      await closed;
      await replyEvents.close();
      await broadcast.close();
      await database.close();
    },
  };
}
