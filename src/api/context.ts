import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Viewer } from "../security/viewer.ts";
import type { AppServices } from "../services/app-services.ts";

/** Per-operation context, the same for HTTP, SSE and graphql-ws. */
export interface GraphQLContext {
  viewer: Viewer | null;
  /** For reads only (Pothos `query` selections); writes go through `services`. */
  prisma: PrismaClient;
  services: AppServices;
  /** Also in the `x-request-id` response header and every error's `extensions.requestId`; one per graphql-ws operation. */
  requestId?: string;
  /** The client's address (TRUSTED_PROXY_HOPS applied), set by useRateLimits: what per-address limits key on. */
  clientAddress?: string;
}
