# diaspora-service container image.
#   docker build -t diaspora-service .
#   docker run --rm -p 8000:8000 -e DEFAULT_SERVERS=broker:9092 -e SERVER_CLIENT_ID=… -e SERVER_SECRET=… diaspora-service
# Configuration is environment variables only: see README.md and .env.example.
# Node 24, the current LTS (Node 20 reached end of life in April 2026). package.json `engines` says what else runs.

# ---- build: compile TypeScript to dist/ -------------------------------------------------------------
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- deps: production dependencies only ------------------------------------------------------------
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ---------------------------------------------------------------------------------------
FROM node:24-slim
ENV NODE_ENV=production \
    PORT=8000 \
    HOST=0.0.0.0 \
    METADATA_STORE=/app/data/metadata.json
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The file metadata store lives here; mount a volume on it to keep namespaces across restarts.
# A new named volume takes this directory's owner, so the non-root user can write to it.
RUN mkdir -p /app/data && chown node:node /app/data
# The node image's unprivileged user (uid 1000).
USER node
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# V8 heap flags: see node-flags.ts (the same as npm start).
CMD ["node", "--max-semi-space-size=32", "--initial-old-space-size=128", "dist/server.js"]
