// Tells every instance at once that logins were revoked, so open subscriptions and sockets that
// authenticated with them end immediately instead of at token expiry.
import type { Broadcast } from "../persistence/events/broadcast.ts";

export type RevocationListener = (loginId: string) => void;

const CHANNEL = "revoked-logins";

export class RevocationFeed {
  constructor(private readonly broadcast: Broadcast) {}

  async publish(loginIds: string[]): Promise<void> {
    for (const loginId of loginIds) await this.broadcast.publish(CHANNEL, loginId);
  }

  /** Calls `listener` with each revoked login id; returns the unsubscribe function. */
  subscribe(listener: RevocationListener): () => void {
    return this.broadcast.subscribe(CHANNEL, listener);
  }
}
