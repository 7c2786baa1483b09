// Tells every instance at once that credentials were revoked (logins and API keys), so open subscriptions and sockets
// that authenticated with them end immediately instead of at expiry.
import type { Broadcast } from "../persistence/events/broadcast.ts";

/** Hears a revoked credential's id: a login's or an API key's (Viewer.credentialId). */
export type RevocationListener = (credentialId: string) => void;

const CHANNEL = "revoked-logins";

export class RevocationFeed {
  constructor(private readonly broadcast: Broadcast) {}

  async publish(credentialIds: string[]): Promise<void> {
    for (const credentialId of credentialIds) await this.broadcast.publish(CHANNEL, credentialId);
  }

  /** Calls `listener` with each revoked credential id; returns the unsubscribe function. */
  subscribe(listener: RevocationListener): () => void {
    return this.broadcast.subscribe(CHANNEL, listener);
  }
}
