// The composition root: builds every dependency once and hands it down. The only file that knows them all.
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import { buildAgentGraph } from "./agent/graph.ts";
import { createEmbeddings } from "./agent/memory/embeddings.ts";
import { createChatModel, resiliencePolicy } from "./agent/models/chat-model.ts";
import { ResilientChatModel } from "./agent/models/resilient-chat.ts";
import { createTools } from "./agent/tools/index.ts";
import { LangGraphReplyAgent } from "./agent/reply-agent.ts";
import { attachGraphQLWs } from "./api/graphql-ws.ts";
import { createHttpServer } from "./api/http-server.ts";
import { loadPersistedDocuments, TrustedDocuments } from "./api/persisted-documents.ts";
import { readinessProbe } from "./api/readiness.ts";
import { createYogaServer } from "./api/yoga.ts";
import type { AppConfig } from "./config/index.ts";
import { PrismaCheckpointSaver } from "./persistence/checkpointer.ts";
import { openDatabase } from "./persistence/database.ts";
import { createLogger, type Logger } from "./observability/logger.ts";
import { modelCallMetrics, timedRecall } from "./observability/agent-metrics.ts";
import { createMetrics, scrapeTimeGauge } from "./observability/metrics.ts";
import { monitorEventLoop } from "./observability/event-loop.ts";
import { createTracing } from "./observability/tracing.ts";
import { PasswordHasher } from "./security/passwords.ts";
import { RateLimits } from "./security/rate-limits.ts";
import { MemoryBroadcast, RedisBroadcast } from "./persistence/events/broadcast.ts";
import { RevocationFeed } from "./security/revocations.ts";
import { loadOrCreateDevSecret } from "./security/secrets.ts";
import { TokenService } from "./security/tokens.ts";
import { AccountService } from "./services/accounts.ts";
import { ApiKeyService } from "./services/api-keys.ts";
import { FeedbackService } from "./services/feedback.ts";
import { LoginService } from "./services/logins.ts";
import { MemoryService } from "./services/memories.ts";
import { MessageService } from "./services/messages.ts";
import { connectRedis, RedisSubscriber } from "./persistence/events/redis-connections.ts";
import { RedisReplyEventBus } from "./persistence/events/redis-reply-events.ts";
import { MemoryReplyEventBus, type ReplyEventBus } from "./persistence/events/reply-events.ts";
import { ReplyService } from "./services/replies.ts";
import { ReplyLeases } from "./services/reply-leases.ts";
import { ReplySlots } from "./services/reply-slots.ts";
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
  /**
   * Graceful shutdown: /ready turns 503 and new requests and WebSocket connections are refused at once; running
   * replies get `graceMs` (default SHUTDOWN_GRACE_MS) to finish, then end INTERRUPTED with a final event; then
   * sockets close (WebSockets with 1001), Langfuse flushes, connections close. Calling it again returns the same
   * promise.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

/** Connections waiting to be accepted (a burst of clients connecting at once). */
const LISTEN_BACKLOG = 4096;

/** After replies end, their final events still travel bus → subscription → socket; this lets them arrive. */
const FINAL_EVENT_FLUSH_MS = 250;

export async function startApp(config: AppConfig, logger: Logger = createLogger(config.logLevel)): Promise<App> {
  for (const warning of config.warnings) logger.warn(warning);
  // Before anything connects: with PERSISTED_DOCUMENTS_ONLY a missing or invalid manifest refuses the start.
  const persistedDocuments = await loadPersistedDocuments(config.persistedDocuments.path, { required: config.persistedDocuments.only });
  const metrics = createMetrics();
  const trustedDocuments = new TrustedDocuments({
    documents: persistedDocuments,
    only: config.persistedDocuments.only,
    onRefused: (code, transport) => {
      metrics.trustedDocumentRefusals.inc({ code, transport });
      logger.info({ code, transport }, "operation refused by the trusted-documents rules");
    },
  });
  const database = await openDatabase({ ...config.database, dataDir: config.dataDir, onQuery: metrics.dbQuery });
  if (database.appliedMigrations.length > 0) logger.info({ migrations: database.appliedMigrations }, "migrations applied");
  const { prisma } = database;

  const jwtSecret = config.auth.jwtSecret ?? (await loadOrCreateDevSecret(config.dataDir));
  const tokens = new TokenService(jwtSecret, config.auth.accessTokenTtlSeconds);
  const models = createChatModel(config.llm);
  const primaryModel = models[0]!.name;
  const tracing = await createTracing(config.langfuse, logger);
  const usage = new UsageService(prisma, {
    dailyTokenLimit: config.llm.dailyTokenLimit,
    // About one full model call: the history budget in, the output limit out.
    reservationPerReply: config.llm.historyTokenBudget + config.llm.maxOutputTokens,
    maxConcurrentReplies: config.llm.maxConcurrentRepliesPerUser,
  });
  const modelObserver = modelCallMetrics(metrics, Object.fromEntries(models.map(({ name }) => [name, "closed" as const])));
  // One model path for replies and memory extraction alike: the same breakers, retries, fallbacks and metrics.
  const chat = new ResilientChatModel(models, resiliencePolicy(config.llm), modelObserver);
  const memories = new MemoryService(prisma, chat, logger, {
    extractionQueueMax: config.memory.extractionQueueMax,
    recallLimit: config.memory.recallLimit,
    embeddings: createEmbeddings({ ...config.llm, model: config.memory.embeddingsModel }),
    usage,
    callbacksFor: (job) => tracing.callbacksFor(job),
  });
  if (config.memory.embeddingsModel) logger.info({ recall: await memories.prepare() }, "memory recall");
  // Only the latest checkpoint is read back; a few more are kept for debugging a thread.
  const checkpointer = new PrismaCheckpointSaver(prisma, {
    prune: {
      keep: CHECKPOINTS_KEPT_PER_SESSION,
      onError: (error, sessionId) => logger.warn({ err: error, sessionId }, "could not prune checkpoints"),
    },
  });
  const tools = createTools(config.agent.tools);
  metrics.setKnownTools(tools.map((tool) => tool.name));
  const graph = buildAgentGraph({
    chat,
    tools,
    agentName: config.agent.name,
    historyTokenBudget: config.llm.historyTokenBudget,
    toolTimeoutMs: config.agent.tools.timeoutMs,
    memory: timedRecall(memories, metrics),
    checkpointer,
    // Provider and tool failures reach clients as generic text; the detail goes here.
    logger,
  });
  const agent = new LangGraphReplyAgent(graph);

  const redis = config.redis.url ? connectRedis(config.redis.url) : undefined;
  // ioredis reconnects by itself; without a listener it prints every failed attempt to stderr as unhandled.
  let lastRedisError = "";
  redis?.on("error", (error: Error) => {
    if (error.message !== lastRedisError) logger.warn({ err: error }, "Redis connection error (reconnecting)");
    lastRedisError = error.message;
  });
  redis?.on("ready", () => (lastRedisError = ""));
  // One subscriber connection for every channel: reply events, cancels, revocations.
  const subscriber = redis ? new RedisSubscriber(redis) : undefined;
  const sessions = new SessionService(prisma, (sessionId) => checkpointer.deleteThread(sessionId));
  const busOptions = { latestReply: (sessionId: string) => sessions.latestReply(sessionId) };
  const replyEvents: ReplyEventBus =
    redis && subscriber
      ? new RedisReplyEventBus(redis, subscriber, config.events.retentionPerSession, config.redis.keyPrefix, busOptions)
      : new MemoryReplyEventBus(config.events.retentionPerSession, busOptions);
  const { trustedProxyHops, ...bucketLimits } = config.rateLimits;
  const rateLimits = new RateLimits(bucketLimits, {
    redis,
    keyPrefix: config.redis.keyPrefix,
    onRefused: (bucket) => metrics.rateLimited.inc({ bucket }),
  });
  const broadcast = redis && subscriber ? new RedisBroadcast(redis, subscriber, config.redis.keyPrefix) : new MemoryBroadcast();
  const revocations = new RevocationFeed(broadcast);
  const eventLoop = monitorEventLoop();
  const slots = new ReplySlots({
    maxRunning: config.replies.maxRunning,
    maxQueued: config.replies.maxQueued,
    lag: { now: () => eventLoop.lagMs(), maxMs: config.replies.maxEventLoopLagMs },
    // A send holds a pooled connection for its transaction: twice the pool keeps one waiting per connection.
    maxStoring: 2 * config.database.poolSize,
    onChange: ({ waiting }) => metrics.repliesWaiting.set(waiting),
  });
  const leases = new ReplyLeases(prisma, replyEvents, logger, metrics, { leaseMs: config.replies.leaseMs });
  const replies = new ReplyService(prisma, agent, replyEvents, logger, metrics, usage, broadcast, slots, leases, {
    // The reply's own trace: its id follows from the message id, so a rating can score it later.
    callbacksFor: ({ userId, sessionId, messageId }) => tracing.callbacksFor({ userId, sessionId, messageId, isReply: true }),
    afterReply: ({ userId, sessionId, messageId, userMessage, dayTotal }) =>
      memories.afterUserTurn(userId, userMessage, { sessionId, messageId, dayTotal }),
  });
  // Only replies whose instance is gone: those other live instances run keep their leases.
  const recovered = await leases.recoverExpired();
  if (recovered > 0) logger.warn({ count: recovered }, "replies of a stopped instance ended INTERRUPTED");
  leases.start(replies);
  const logins = new LoginService(prisma, tokens, revocations, config.auth.refreshTokenTtlSeconds);
  const services = {
    accounts: new AccountService(prisma, new PasswordHasher(config.auth.argon2), logins, rateLimits),
    logins,
    apiKeys: new ApiKeyService(prisma, revocations),
    sessions,
    messages: new MessageService(prisma, sessions, replies, replyEvents, usage, {
      modelName: primaryModel,
      maxChars: config.messages.maxChars,
      sendWhileStreaming: config.agent.sendWhileStreaming,
      leaseMs: config.replies.leaseMs,
    }),
    usage,
    memories,
    replyEvents,
    // Each rating also becomes a Langfuse score on the reply's trace (when tracing is on).
    feedback: new FeedbackService(prisma, ({ messageId, rating, comment }) => tracing.scoreReply({ messageId, rating, comment })),
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
    exposeErrorDetails: config.env === "development" || config.env === "test",
    limits: config.limits,
    subscriptions: config.subscriptions,
    introspection: config.schema.introspection,
    fieldSuggestions: config.schema.fieldSuggestions,
    trustedDocuments,
  });
  let stopping: Promise<void> | undefined;
  const isDraining = () => stopping !== undefined;
  const readiness = readinessProbe(
    {
      database: () => prisma.$queryRaw`SELECT 1`,
      ...(redis ? { redis: () => redis.ping() } : {}),
    },
    logger,
  );
  scrapeTimeGauge(metrics, {
    name: "app_dependency_up",
    help: "1 when the dependency answered the readiness check at scrape time (database, redis), else 0",
    labelNames: ["dependency"],
    collect: async (set) => {
      for (const [dependency, outcome] of Object.entries((await readiness()).checks)) set({ dependency }, outcome === "ok" ? 1 : 0);
    },
  });
  scrapeTimeGauge(metrics, {
    name: "db_pool_connections",
    help: "PostgreSQL pool connections by state (total, idle, waiting: requests queued for one); absent on PGlite",
    labelNames: ["state"],
    collect: (set) => {
      const stats = database.poolStats();
      if (stats) for (const [state, value] of Object.entries(stats)) set({ state }, value);
    },
  });
  const httpServer = createHttpServer(yoga, {
    registry: metrics.registry,
    metricsToken: config.metricsToken,
    metricsOpenWithoutToken: config.metricsOpenWithoutToken,
    readiness,
    isDraining,
  });
  const ws = attachGraphQLWs(httpServer, yoga, {
    metrics,
    logins,
    apiKeys: services.apiKeys,
    revocations,
    trustedDocuments,
    isDraining,
    maxPayloadBytes: config.server.maxRequestBodyBytes,
    trustedProxyHops,
    ...config.graphqlWs,
  });
  // Node's default backlog (511) drops the connections of a burst beyond it, whose clients then retry their SYN
  // with backoff (1, 2, 4… s) and can wait a minute before the server even sees the request; the kernel caps this
  // at net.core.somaxconn.
  httpServer.listen({ port: config.server.port, host: config.server.host, backlog: LISTEN_BACKLOG });
  await once(httpServer, "listening");
  const { port } = httpServer.address() as AddressInfo;
  const url = `http://localhost:${port}`;
  const events = config.redis.url ? "redis" : "in-process";
  logger.info({ url: `${url}/graphql`, database: database.kind, events, model: primaryModel, instance: leases.instanceId }, "agent API ready");

  return {
    url,
    database: database.kind,
    logger,
    memories,
    stop({ graceMs = config.lifecycle.shutdownGraceMs } = {}) {
      stopping ??= (async () => {
        const deadline = Date.now() + graceMs;
        // From here /ready is 503 and new requests and WebSocket connections are refused (isDraining).
        const [{ value: running = 0 } = {}] = (await metrics.activeReplies.get()).values;
        await replies.drain(graceMs);
        leases.stop();
        // Finishing replies queue extractions too; they get what is left of the grace (at least a second).
        await memories.drain(Math.max(1_000, deadline - Date.now()));
        if (running > 0) await delay(FINAL_EVENT_FLUSH_MS);
        await ws.close(); // 1001 "Server shutting down"
        const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
        // Requests still running get a moment; SSE streams never end by themselves.
        await Promise.race([closed, delay(1_000)]);
        httpServer.closeAllConnections();
        await closed;
        await tracing.shutdown();
        await replyEvents.close();
        await broadcast.close();
        await subscriber?.close();
        await redis?.quit().catch(() => redis.disconnect());
        await database.close();
        eventLoop.stop();
      })();
      return stopping;
    },
  };
}
