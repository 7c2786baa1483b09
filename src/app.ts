// The composition root: builds every dependency once and hands it down. The only file that knows them all.
import { setTimeout as delay } from "node:timers/promises";
import { buildAgentGraph } from "./agent/graph.ts";
import { createEmbeddings } from "./agent/memory/embeddings.ts";
import { createChatModel, resiliencePolicy } from "./agent/models/chat-model.ts";
import { ResilientChatModel } from "./agent/models/resilient-chat.ts";
import { createTools } from "./agent/tools/index.ts";
import { LangGraphReplyAgent } from "./agent/reply-agent.ts";
import { listen, type Listener } from "./api/listen.ts";
import { loadPersistedDocuments, TrustedDocuments } from "./api/persisted-documents.ts";
import { readinessProbe } from "./api/readiness.ts";
import { createYogaServer, type YogaServer } from "./api/yoga.ts";
import type { AppConfig } from "./config/index.ts";
import { PrismaCheckpointSaver } from "./persistence/checkpointer.ts";
import { openDatabase } from "./persistence/database.ts";
import { createLogger, type Logger } from "./observability/logger.ts";
import { modelCallMetrics, timedRecall } from "./observability/agent-metrics.ts";
import { createMetrics, registerDependencyGauges, type Metrics } from "./observability/metrics.ts";
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
import { openRedisConnections } from "./persistence/events/redis-connections.ts";
import { RedisReplyEventBus } from "./persistence/events/redis-reply-events.ts";
import { MemoryReplyEventBus, type ReplyEventBus } from "./persistence/events/reply-events.ts";
import { ReplyService } from "./services/replies.ts";
import { ReplyLeases } from "./services/reply-leases.ts";
import { ReplySlots } from "./services/reply-slots.ts";
import { SessionService } from "./services/sessions.ts";
import { UsageService } from "./services/usage.ts";

const CHECKPOINTS_KEPT_PER_SESSION = 10;

export interface AppDependencies {
  /** @default a logger at config.logLevel */
  logger?: Logger;
}

/** The app built, connected to its database and Redis, not yet listening. */
export interface BuiltApp {
  /** The whole GraphQL pipeline; `yoga.fetch(request)` serves HTTP in process, without a socket. */
  yoga: YogaServer;
  database: "postgresql" | "pglite";
  logger: Logger;
  /** Long-term memory; tests await its background extractions with `memories.idle()`. */
  memories: MemoryService;
  /**
   * Listens on `port` (default PORT; 0 picks a free one) with graphql-ws on the same path. Calling it again returns
   * the same promise.
   */
  start(port?: number): Promise<App>;
  /**
   * Graceful shutdown: /ready turns 503 and new requests and WebSocket connections are refused at once; running
   * replies get `graceMs` (default SHUTDOWN_GRACE_MS) to finish, then end INTERRUPTED with a final event; then
   * sockets close (WebSockets with 1001), Langfuse flushes, connections close. Calling it again returns the same
   * promise. An app that never started stops the same way, without the sockets.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

export interface App extends BuiltApp {
  /** Base URL once listening, e.g. http://localhost:4000 */
  url: string;
}

/** After replies end, their final events still travel bus → subscription → socket; this lets them arrive. */
const FINAL_EVENT_FLUSH_MS = 250;

/** Builds and starts in one call (tests that start an app as the process would). */
export async function startApp(config: AppConfig, logger?: Logger): Promise<App> {
  return (await buildApp(config, { logger })).start();
}

export async function buildApp(
  config: AppConfig,
  { logger = createLogger(config.logLevel) }: AppDependencies = {},
): Promise<BuiltApp> {
  for (const warning of config.warnings) logger.warn(warning);
  // Before anything connects: with PERSISTED_DOCUMENTS_ONLY a missing or invalid manifest refuses the start.
  const persistedDocuments = await loadPersistedDocuments(config.persistedDocuments.path, {
    required: config.persistedDocuments.only,
  });
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
  if (database.appliedMigrations.length > 0)
    logger.info({ migrations: database.appliedMigrations }, "migrations applied");
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
  const modelObserver = modelCallMetrics(
    metrics,
    Object.fromEntries(models.map(({ name }) => [name, "closed" as const])),
  );
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

  const redisConnections = config.redis.url ? openRedisConnections(config.redis.url, logger) : undefined;
  const redis = redisConnections?.commands;
  const sessions = new SessionService(prisma, (sessionId) => checkpointer.deleteThread(sessionId));
  const busOptions = { latestReply: (sessionId: string) => sessions.latestReply(sessionId) };
  const replyEvents: ReplyEventBus = redisConnections
    ? new RedisReplyEventBus(
        redisConnections.commands,
        redisConnections.subscriber,
        config.events.retentionPerSession,
        config.redis.keyPrefix,
        busOptions,
      )
    : new MemoryReplyEventBus(config.events.retentionPerSession, busOptions);
  const { trustedProxyHops, ...bucketLimits } = config.rateLimits;
  const rateLimits = new RateLimits(bucketLimits, {
    redis,
    keyPrefix: config.redis.keyPrefix,
    onRefused: (bucket) => metrics.rateLimited.inc({ bucket }),
  });
  const broadcast = redisConnections
    ? new RedisBroadcast(redisConnections.commands, redisConnections.subscriber, config.redis.keyPrefix)
    : new MemoryBroadcast();
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
    partialFlushMs: config.replies.partialFlushMs,
    // The reply's own trace: its id follows from the message id, so a rating can score it later.
    callbacksFor: ({ userId, sessionId, messageId }) =>
      tracing.callbacksFor({ userId, sessionId, messageId, isReply: true }),
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
    feedback: new FeedbackService(prisma, ({ messageId, rating, comment }) =>
      tracing.scoreReply({ messageId, rating, comment }),
    ),
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
    exposeErrorDetails: config.local,
    limits: config.limits,
    subscriptions: config.subscriptions,
    introspection: config.schema.introspection,
    fieldSuggestions: config.schema.fieldSuggestions,
    trustedDocuments,
  });
  let stopping: Promise<void> | undefined;
  let starting: Promise<App> | undefined;
  let listener: Promise<Listener> | undefined;
  const isDraining = () => stopping !== undefined;
  const readiness = readinessProbe(
    {
      database: () => prisma.$queryRaw`SELECT 1`,
      ...(redis ? { redis: () => redis.ping() } : {}),
    },
    logger,
  );
  registerDependencyGauges(metrics, { readiness, poolStats: () => database.poolStats() });

  /** The order of shutdown: replies first (they still publish), then the sockets, then what they used. */
  async function shutDown(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    // From here /ready is 503 and new requests and WebSocket connections are refused (isDraining).
    const running = await activeReplies(metrics);
    await replies.drain(graceMs);
    leases.stop();
    // Finishing replies queue extractions too; they get what is left of the grace (at least a second).
    await memories.drain(Math.max(1_000, deadline - Date.now()));
    if (running > 0) await delay(FINAL_EVENT_FLUSH_MS);
    // A start that failed left nothing listening.
    await (await listener?.catch(() => undefined))?.close();
    await tracing.shutdown();
    await replyEvents.close();
    await broadcast.close();
    await redisConnections?.close();
    await database.close();
    eventLoop.stop();
  }

  const built: BuiltApp = {
    yoga,
    database: database.kind,
    logger,
    memories,
    start(port = config.server.port) {
      if (stopping) return Promise.reject(new Error("the app is stopping; build a new one to start again"));
      starting ??= (async () => {
        listener = listen(yoga, {
          port,
          host: config.server.host,
          http: {
            registry: metrics.registry,
            metricsToken: config.metricsToken,
            metricsOpenWithoutToken: config.metricsOpenWithoutToken,
            readiness,
            isDraining,
          },
          ws: {
            metrics,
            logins,
            apiKeys: services.apiKeys,
            revocations,
            trustedDocuments,
            isDraining,
            maxPayloadBytes: config.server.maxRequestBodyBytes,
            trustedProxyHops,
            ...config.graphqlWs,
          },
        });
        const { url } = await listener;
        const events = config.redis.url ? "redis" : "in-process";
        logger.info(
          { url: `${url}/graphql`, database: database.kind, events, model: primaryModel, instance: leases.instanceId },
          "agent API ready",
        );
        return { ...built, url };
      })();
      return starting;
    },
    stop({ graceMs = config.lifecycle.shutdownGraceMs } = {}) {
      stopping ??= shutDown(graceMs);
      return stopping;
    },
  };
  return built;
}

/** Replies generating now, as the agent_active_replies gauge counts them. */
async function activeReplies(metrics: Metrics): Promise<number> {
  const [{ value = 0 } = {}] = (await metrics.activeReplies.get()).values;
  return value;
}
