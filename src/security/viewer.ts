/** The authenticated caller, as every layer below the API sees it. */
export interface Viewer {
  userId: string;
  /** The login whose access token authenticated this request (revoked by logout). */
  loginId: string;
  /** When that access token expires; long-lived operations (subscriptions) end then. */
  expiresAt: Date;
}
