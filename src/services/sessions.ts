import type { PrismaClient, Session } from "../generated/prisma/client.ts";
import { sessionNameRule } from "../security/input-rules.ts";
import type { Viewer } from "../security/viewer.ts";
import { bindLogContext } from "../observability/log-context.ts";
import { BoundedCache } from "./bounded-cache.ts";
import { notFound, parseField } from "./errors.ts";

const DEFAULT_SESSION_NAME = "New chat";
/** A session's owner never changes: once read, it is known (a deleted session is forgotten where it was deleted). */
const OWNER_CACHE_ENTRIES = 100_000;
const OWNER_CACHE_MS = 10 * 60_000;

/** Chat sessions, always scoped to their owner: a foreign id and an unknown id look the same. */
export class SessionService {
  /** sessionId → userId of sessions seen to exist. */
  private readonly owners = new BoundedCache<string, string>(OWNER_CACHE_ENTRIES, OWNER_CACHE_MS);

  constructor(
    private readonly prisma: PrismaClient,
    /** Drops what else is kept per session (the agent's checkpoints). */
    private readonly onDeleted: (sessionId: string) => Promise<void> = async () => undefined,
  ) {}

  /** The session's newest assistant reply as stored (for a stream snapshot when the event log no longer has it). */
  async latestReply(sessionId: string): Promise<{ messageId: string; text: string } | undefined> {
    const reply = await this.prisma.message.findFirst({
      where: { sessionId, role: "ASSISTANT" },
      orderBy: { position: "desc" },
      select: { id: true, content: true },
    });
    return reply ? { messageId: reply.id, text: reply.content } : undefined;
  }

  /**
   * NOT_FOUND unless the session exists and is the viewer's. Checked once per session and instance: a session
   * deleted on another instance may still pass here, where nothing can be done with it (its rows are gone).
   */
  async requireOwned(viewer: Viewer, sessionId: string): Promise<void> {
    let owner = this.owners.get(sessionId);
    if (owner === undefined) {
      const session = await this.prisma.session.findUnique({ where: { id: sessionId }, select: { userId: true } });
      if (!session) throw notFound("Session");
      owner = session.userId;
      this.owners.set(sessionId, owner);
    }
    if (owner !== viewer.userId) throw notFound("Session");
    bindLogContext({ sessionId }); // this operation's log lines name the session from here on
  }

  async create(viewer: Viewer, input: { name?: string | null }): Promise<Session> {
    const name = input.name == null ? DEFAULT_SESSION_NAME : parseField(sessionNameRule, "input.name", input.name);
    const session = await this.prisma.session.create({ data: { name, userId: viewer.userId } });
    this.owners.set(session.id, session.userId);
    return session;
  }

  async rename(viewer: Viewer, sessionId: string, rawName: string): Promise<Session> {
    const name = parseField(sessionNameRule, "input.name", rawName);
    const { count } = await this.prisma.session.updateMany({
      where: { id: sessionId, userId: viewer.userId },
      data: { name },
    });
    if (count === 0) throw notFound("Session");
    return this.prisma.session.findUniqueOrThrow({ where: { id: sessionId } });
  }

  async delete(viewer: Viewer, sessionId: string): Promise<void> {
    const { count } = await this.prisma.session.deleteMany({ where: { id: sessionId, userId: viewer.userId } });
    if (count === 0) throw notFound("Session");
    this.owners.delete(sessionId);
    await this.onDeleted(sessionId);
  }
}
