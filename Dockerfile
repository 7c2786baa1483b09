# syntax=docker/dockerfile:1
# Production image for the agent GraphQL API. Two stages:
#   build:   all dependencies, Prisma client generation, `tsc` → dist/
#   runtime: production dependencies only, dist/ and prisma/migrations, non-root.
# Build: docker build -t agent-graphql-api .     Run: see docker-compose.yml (no secrets are baked in).
# Configuration comes from the environment only: no .env file of any kind enters the build context (.dockerignore),
# so the image holds no secret and behaves the same wherever it runs. APP_ENV=production refuses unsafe settings.

# Pinned to the Node version the project is developed and tested on (package.json engines: >=20.19).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---------------------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# The Prisma CLI tries to download its native schema engine on every command; `generate` never starts it, so pointing
# it at /bin/false keeps the install offline-safe (the postinstall script sets the same variable).
ENV PRISMA_SCHEMA_ENGINE_BINARY=/bin/false

# Manifests and the Prisma schema first: the dependency layer is only rebuilt when they change.
# `npm ci` runs the postinstall script, which generates the Prisma client (TypeScript) into src/generated/.
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

# src/generated is excluded from the build context (.dockerignore), so the client generated above is kept.
# tsc compiles it with the rest of src/ into dist/generated/, so the runtime needs no generation step.
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app

# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (libuv's pool, V8's workers) an arena of its own, and
# the idle server held ~278 MB RSS; with two arenas 217–254 MB over six runs (npm run bench:load -- --idle-rss), same heap.
ENV NODE_ENV=production \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    MALLOC_ARENA_MAX=2

# Production dependencies only, with lifecycle scripts off:
# - the root postinstall would run `prisma generate`, and the prisma CLI is a devDependency; the generated client
#   is already compiled into dist/generated/ (copied below);
# - argon2 0.44.0 needs no install script: it ships prebuilds (linux-x64/arm64, glibc and musl) and loads them at
#   runtime through node-gyp-build;
# - --omit=optional drops the Prisma CLI (and ~260 MB with it: studio, dev server, typescript...), which npm would
#   otherwise install as an optional peer of @prisma/client. No runtime dependency needs an optional package today
#   (only pg-cloudflare and graphql-armor-types, both unused on Node); revisit if one adds platform-specific binaries.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# dist/persistence/migrate.js reads ../../prisma/migrations, i.e. /app/prisma/migrations: pending migrations are
# applied at every start, before the server listens.
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma ./prisma
# The web client's trusted documents (PERSISTED_DOCUMENTS_PATH's default): production runs only these, or API keys' documents.
COPY web/src/generated/persisted-documents.json ./web/src/generated/persisted-documents.json

# Application files stay root-owned (read-only for the app). DATA_DIR (default ./.data) is only written in embedded
# mode (no DATABASE_URL: PGlite lives there); mount a volume on /app/.data if you use that mode.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node

EXPOSE 4000

# No curl in slim images: Node's fetch. /health (liveness) answers 200 once the server listens, migrations done by
# then; it stays 200 while draining, so Docker never kills a draining container early. Readiness is GET /ready.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/health', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# node directly (not npm) so SIGTERM reaches the app: /ready turns 503, running replies get SHUTDOWN_GRACE_MS to
# finish, WebSockets close with 1001, exit 0. Give the container longer than that before SIGKILL.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
