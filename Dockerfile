# shipit itself in a container: the daemon (`shipit up`, in the foreground) with the Docker
# socket mounted. See docker-compose.yml and docs/compose.md.
#
# The image is assembled from the build context's installed dependencies and build output,
# so run `npm ci && npm run build` first (on Linux x86-64/arm64 with glibc: better-sqlite3 is
# a native module, built by npm for this machine). No npm runs inside, so the base needs only
# a `node` on PATH:
#   BASE=node:20-bookworm-slim    the default, for real users (pulled from Docker Hub)
#   BASE=shipit-node-base:local   made by scripts/base-image.sh from this machine's node,
#                                 for machines without a registry (tests)
ARG BASE=node:20-bookworm-slim

# Production node_modules: the context's copy minus dev packages and native-build leftovers.
FROM ${BASE} AS deps
WORKDIR /opt/shipit
COPY package-lock.json ./
COPY scripts/prune-dev-deps.js scripts/
COPY node_modules/ node_modules/
RUN ["node", "scripts/prune-dev-deps.js"]

FROM ${BASE}
WORKDIR /opt/shipit
COPY --from=deps /opt/shipit/node_modules/ node_modules/
COPY package.json ./
COPY bin/ bin/
COPY dist/ dist/
# The project's shipit.yml is mounted at /etc/shipit (read-only is fine); the state (SQLite
# database, API token, daemon socket) lives in a volume, not beside the config.
ENV NODE_ENV=production \
    SHIPIT_CONFIG=/etc/shipit/shipit.yml \
    SHIPIT_HOME=/var/lib/shipit
VOLUME /var/lib/shipit
LABEL org.opencontainers.image.title=shipit \
      org.opencontainers.image.description="shipit daemon: zero-downtime Docker deploys behind a built-in reverse proxy"
ENTRYPOINT ["node", "/opt/shipit/bin/shipit.js"]
CMD ["up"]
