import type { PrismaClient, Session } from "../generated/prisma/client.ts";
import { sessionNameRule } from "../security/input-rules.ts";
import type { Viewer } from "../security/viewer.ts";
import { notFound, parseField } from "./errors.ts";
import { bindLogContext } from "../observability/log-context.ts";

const DEFAULT_SESSION_NAME = "New chat";

/** Chat sessions, always scoped to their owner: a foreign id and an unknown id look the same. */
export class SessionService {
  constructor(
    private readonly prisma: PrismaClient,
    /** Drops what else is kept per session (the agent's checkpoints). */
    private readonly onDeleted: (sessionId: string) => Promise<void> = async () => undefined,
  ) {}

  async requireOwned(viewer: Viewer, sessionId: string): Promise<Session> {
    const session = await this.prisma.session.findFirst({ where: { id: sessionId, userId: viewer.userId } });
    if (!session) throw notFound("Session");
    bindLogContext({ sessionId: session.id }); // this operation's log lines name the session from here on
    return session;
  }

  create(viewer: Viewer, input: { name?: string | null }): Promise<Session> {
    const name = input.name == null ? DEFAULT_SESSION_NAME : parseField(sessionNameRule, "input.name", input.name);
    return this.prisma.session.create({ data: { name, userId: viewer.userId } });
  }

  async rename(viewer: Viewer, sessionId: string, rawName: string): Promise<Session> {
    const name = parseField(sessionNameRule, "input.name", rawName);
    const { count } = await this.prisma.session.updateMany({
      where: { id: sessionId, userId: viewer.userId },
      data: { name },
    });
    if (count === 0) throw notFound("Session");
    return this.requireOwned(viewer, sessionId);
  }

  async delete(viewer: Viewer, sessionId: string): Promise<void> {
    const { count } = await this.prisma.session.deleteMany({ where: { id: sessionId, userId: viewer.userId } });
    if (count === 0) throw notFound("Session");
    await this.onDeleted(sessionId);
  }
}
