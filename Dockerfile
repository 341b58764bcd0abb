# cic-gateway container image.
#
#   docker build -t cic-gateway:local .
#   docker run --rm -p 8080:8080 -e CIC_BASE_URL=https://acme.cleointegration.com \
#     -e CIC_USERNAME=... -e CIC_PASSWORD_FILE=/run/secrets/cic_password ... cic-gateway:local
#
# The same image runs the CIC simulator: `node dist/simulator/main.js` (see docker-compose.yml).
# test/deploy/dockerfile.test.ts parses this file and test/deploy/production-install.test.ts
# repeats its steps outside Docker (no Docker engine in CI): keep them in step.

# Base: Node.js 24 LTS, Debian bookworm slim, pinned by full version in every stage (the
# tests check they agree). Bump deliberately; to pin the digest too, append
# @sha256:... as printed by `docker buildx imagetools inspect node:<tag>`.

# ---- build: compile TypeScript with the dev dependencies --------------------------------
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- prod-deps: production dependencies only, no npm cache -----------------------------
FROM node:24.21.0-bookworm-slim AS prod-deps
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /root/.npm

# ---- runtime: node, production node_modules and dist/, nothing else ---------------------
FROM node:24.21.0-bookworm-slim AS runtime
# npm and corepack are not needed at run time: less to patch, less to exploit.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /root/.npm
# MALLOC_ARENA_MAX: glibc gives threads arenas of their own (V8's background threads free
# buffers too); capped at two, the peak RSS relaying large bodies was 2-6 MiB lower in
# the benchmark (docs/benchmarks.md), at no measurable CPU cost.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    SPOOL_DIR=/tmp/cic-gateway \
    MALLOC_ARENA_MAX=2
# Where a store-and-forward outbox volume is mounted (OUTBOX_DIR, docker-compose.yml): owned
# by the runtime user, so a new named volume mounted here starts writable for it.
RUN mkdir -p /var/lib/cic-gateway/outbox && chown 1000:1000 /var/lib/cic-gateway/outbox
WORKDIR /app
# Code and dependencies stay owned by root and read-only for the runtime user; the only
# path the process writes is the spool directory under /tmp (an emptyDir in Kubernetes,
# a tmpfs in docker-compose.yml), so the root filesystem can be mounted read-only.
COPY --from=prod-deps /app/package.json /app/package-lock.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The image's "node" user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8080
# Liveness only (the process answers): no curl in slim images, node's fetch does it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/livez',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and the gateway installs its own SIGTERM/SIGINT handlers (readiness off,
# drain, exit 0). Never `npm start`: npm does not forward signals and would rebuild.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
