/** The authenticated caller, as every layer below the API sees it. */
export interface Viewer {
  userId: string;
  /**
   * What authenticated this request, and what revoking ends (RevocationFeed): the login of an access token (revoked
   * by logout), or the API key (revoked by revokeApiKey). Both are UUIDs from one generator, so they never collide.
   */
  credentialId: string;
  /** Set when an API key authenticated the request (`credentialId` is then the same id); unset for an access token. */
  apiKeyId?: string;
  /** When the credential expires; long-lived operations (subscriptions) end then. Far in the future for a key without expiry. */
  expiresAt: Date;
}
