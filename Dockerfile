# syntax=docker/dockerfile:1
# One image for every stripemeter process in docker-compose.yml / docker-compose.prod.yml:
#   api, workers, migrate and stripe-sandbox (the command is the CLI sub-command: `docker run <image> migrate`).
# Without CLICKHOUSE_URL the image also runs `start` (embedded engine, data under /app/data).

# ---- stage 1: compile TypeScript -------------------------------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# The TypeScript client is an npm workspace: npm ci needs its package.json.
COPY package.json package-lock.json ./
COPY clients/typescript/package.json ./clients/typescript/
RUN npm ci --no-audit --no-fund
# tsconfig.json compiles src/, bench/, test/ (src tests import test/support) and the client's sources (the importer
# sends through its ingest buffer); dist/src and the client ship.
COPY tsconfig.json ./
COPY src ./src
COPY bench ./bench
COPY test ./test
COPY clients/typescript/src ./clients/typescript/src
RUN npm run build

# ---- stage 2: runtime ------------------------------------------------------------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Production dependencies only. chdb (the embedded engine, a native optional dependency) comes along: unused when
# CLICKHOUSE_URL points at a server, but it keeps `start` working in the same image.
COPY package.json package-lock.json ./
COPY clients/typescript/package.json ./clients/typescript/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/clients ./dist/clients
# Read at run time from the package root (the directory holding package.json and migrations/).
COPY migrations ./migrations
COPY sql ./sql
# Writable for the non-root user: /app/data (embedded mode, admin.key) and /data (the Stripe sandbox journal volume;
# a new named volume takes this directory's owner).
RUN mkdir -p /app/data /data && chown node:node /app/data /data
USER node
EXPOSE 3000 12111
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
