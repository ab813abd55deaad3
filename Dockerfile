# syntax=docker/dockerfile:1
# The service runs its TypeScript through tsx (a runtime dependency); there is no build step.
FROM node:20-slim

WORKDIR /app

# Dependencies first, so a source change does not reinstall them. Dev dependencies (tests,
# benchmarks, linters) stay out of the image.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

COPY bin ./bin
COPY db ./db
COPY src ./src
COPY tsconfig.json ./

# Production mode refuses the development JWT secret and the development identity provider,
# so a container never runs with them by accident. Override with TMI_MODE=development.
ENV TMI_MODE=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    TMI_EMBEDDED_PG_DIR=/app/.data/postgres

# Runs as the image's unprivileged `node` user; it owns only the data folder (used when no
# DATABASE_URL is given and embedded PostgreSQL starts).
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node

# 8080: serve (the API, with /metrics and the probes); 9464: worker's /metrics, /healthz, /readyz.
EXPOSE 8080 9464

# `serve` runs pending migrations before it listens (so does `worker`); `migrate` runs only them.
ENTRYPOINT ["node", "--import", "tsx", "src/cli/main.ts"]
CMD ["serve"]
# No HEALTHCHECK here: the same image runs `serve` and `worker`, on different ports.
# docker-compose.yml checks each on its /readyz.
