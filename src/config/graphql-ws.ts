import { z } from "zod";
import { positiveInt } from "./variables.ts";

export const graphqlWsConfig = z
  .object({
    WS_CONNECTION_INIT_TIMEOUT_MS: positiveInt(3_000),
    WS_ANONYMOUS_TIMEOUT_MS: positiveInt(30_000),
    WS_IDLE_TIMEOUT_MS: positiveInt(300_000),
    WS_MAX_CONNECTIONS_PER_ADDRESS: positiveInt(100),
    WS_MAX_CONNECTIONS: positiveInt(20_000),
  })
  .transform((variables) => ({
    /** graphql-ws connections: frames are capped at `server.maxRequestBodyBytes` too (close 1009 beyond). */
    graphqlWs: {
      /** No `connection_init` by then: closed with 4408. */
      connectionInitTimeoutMs: variables.WS_CONNECTION_INIT_TIMEOUT_MS,
      /** Not authenticated by its `connection_init` (no or a bad token): closed with 4401 after this long. */
      anonymousTimeoutMs: variables.WS_ANONYMOUS_TIMEOUT_MS,
      /** No subscription running and no operation sent for this long: closed with 1000. */
      idleTimeoutMs: variables.WS_IDLE_TIMEOUT_MS,
      /** Open connections per client address (429 at the upgrade beyond) and in all (503 beyond). */
      maxConnectionsPerAddress: variables.WS_MAX_CONNECTIONS_PER_ADDRESS,
      maxConnections: variables.WS_MAX_CONNECTIONS,
    },
  }));
