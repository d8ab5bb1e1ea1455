# syntax=docker/dockerfile:1
# One image for every vendorfetch program. The first argument picks the program:
#   docker run IMAGE api | worker | controller | mocks | local   (default: api)
# Anything else is run as a command (e.g. `node dist/worker/main.js`, which is how the
# controller starts workers).
# The base is a build ARG so that the image builds where no registry answers: testing/testenv/images.sh
# assembles a Node 24 base locally and passes it here (`buildah bud --build-arg NODE_IMAGE=…`).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: compile TypeScript with the dev dependencies --------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency would download a second Node; the base image has one.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.product.json ./
COPY core ./core
COPY api ./api
COPY worker ./worker
COPY controller ./controller
COPY vendor-mocks ./vendor-mocks
# Product folders only: the harness, suites, benches and scripts never reach the image
# (testing/image-contents.test.ts checks the dist/ this produces).
RUN npx tsc -p tsconfig.product.json

# ---- prod-deps: runtime dependencies only ------------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime -----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# V8 sizes its heap from the host's memory, not the pod's: on a 24 GB machine the api's young
# generation grew to 128 MB and a worker's old generation to ~100 MB of mostly garbage. These
# bounds hold the api and a worker at concurrency 50 to ~140 MB RSS at no measurable CPU cost
# (README, "Memory"; bench/memory.ts). A worker whose vendors send answers near
# VF_MAX_ANSWER_BYTES at high concurrency may need a larger old space: set NODE_OPTIONS.
ENV NODE_ENV=production \
    VF_SQLITE_PATH=/app/.data/vendorfetch.db \
    NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=256"
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /src/dist ./dist
# Local mode reads its pools from here (VF_POOLS_DIR default).
COPY examples ./examples
COPY crds ./crds
# The program chooser; a plain file, since buildah before 1.33 (Debian 12's) has no heredocs.
COPY scripts/image-entry.sh /usr/local/bin/vendorfetch
# A fixed non-root uid/gid (matches the chart's and the worker Deployments' runAsUser), and
# a writable .data for the embedded SQLite store of `docker run … api` without MongoDB.
RUN groupadd --gid 10001 vendorfetch \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vendorfetch \
 && mkdir -p /app/.data && chown 10001:10001 /app/.data
USER 10001:10001
# api, controller metrics/health, worker metrics, sync and async mocks.
EXPOSE 8080 8081 8082 9101 9102
ENTRYPOINT ["/usr/local/bin/vendorfetch"]
CMD ["api"]

# ---- dev: for Tilt (target "dev"): sources, dev dependencies and the compiler, owned by the
# app user so live updates can write them; the Tiltfile syncs sources, runs tsc and starts node
# with --watch. Never deployed outside a dev cluster.
FROM build AS dev
COPY scripts/image-entry.sh /usr/local/bin/vendorfetch
COPY examples ./examples
COPY crds ./crds
RUN groupadd --gid 10001 vendorfetch \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vendorfetch \
 && mkdir -p /src/.data && chown -R 10001:10001 /src
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/vendorfetch"]
CMD ["api"]

# The default target (last stage): the production runtime.
FROM runtime
