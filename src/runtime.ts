import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { createTokenService } from './auth/tokens.js';
import type { Config } from './config/schema.js';
import { eventCatalog } from './events/registry.js';
import { registerAggregateReadMetrics } from './events/snapshots.js';
import { EventStore } from './events/store.js';
import { openDatabase } from './infra/database.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './infra/embedded-postgres.js';
import { migrateToLatest } from './infra/migrate.js';
import { openQueueBackend } from './infra/queue.js';
import { registerQueueMetrics } from './infra/queue-metrics.js';
import { buildApp } from './http/app.js';
import { buildOperationsApp } from './http/operations-app.js';
import { startBackgroundWork, type BackgroundWork } from './background.js';
import type { Services } from './services.js';
import { ProjectionProgress, ProjectionWakeups } from './projections/signals.js';

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };

/** Every command the shared Redis client sends is O(1) (rate-limit counters, short-lived auth state). */
const REDIS_COMMAND_TIMEOUT_MS = 1000;

export function createLogger(config: Config): Logger {
  return pino({
    level: config.logging.level,
    base: { service: packageJson.name },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.client_secret', '*.refresh_token', '*.password'], censor: '[redacted]' },
  });
}

export interface Runtime {
  services: Services;
  app: FastifyInstance | null;
  /** `worker`'s listener for `/metrics`, `/healthz`, `/readyz` (null for `serve`, or with `server.worker_metrics_port` 0). */
  operations: FastifyInstance | null;
  background: BackgroundWork | null;
  stop(): Promise<void>;
}

/**
 * Opens everything the service needs. With no DATABASE_URL an embedded PostgreSQL starts;
 * with no REDIS_URL BullMQ runs on its PostgreSQL backend.
 */
export async function openServices(config: Config, log: Logger = createLogger(config)): Promise<{ services: Services; embedded: EmbeddedDatabase | null }> {
  let embedded: EmbeddedDatabase | null = null;
  let databaseUrl = config.database.url;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres({ dataDir: config.database.embedded_data_dir, port: config.database.embedded_port, log });
    databaseUrl = embedded.url;
  }
  log.info({
    database: embedded ? `embedded PostgreSQL on port ${config.database.embedded_port}` : 'external PostgreSQL (DATABASE_URL)',
    queues: config.redis.url ? 'BullMQ on Redis (REDIS_URL)' : 'BullMQ on its PostgreSQL backend',
    realtime_fanout: config.redis.url ? 'Redis pub/sub' : 'in-process',
  }, 'storage mode');
  const database = openDatabase(databaseUrl, { max: config.database.pool_size });
  let redis: Redis | null = null;
  if (config.redis.url) {
    // Fail fast on every way Redis can be down: refused (no offline queue) or hung (a command timeout),
    // so the per-request users (the rate limiter) skip it instead of holding the request.
    redis = new Redis(config.redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: REDIS_COMMAND_TIMEOUT_MS, connectTimeout: 2000 });
    redis.on('error', (err) => log.debug({ err }, 'redis error'));
  }
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const queues = openQueueBackend({ redisUrl: config.redis.url, databaseUrl, prefix: config.redis.prefix, log });
  const wakeups = new ProjectionWakeups(queues, log);
  const services: Services = {
    config,
    log,
    database,
    databaseUrl,
    store: new EventStore(database.pool, eventCatalog),
    queues,
    tokens: createTokenService(config),
    wakeups,
    progress: new ProjectionProgress(database.pool, databaseUrl, log, wakeups),
    redis,
    metrics,
    build: { name: 'TMI (event-sourced)', version: packageJson.version },
  };
  registerAggregateReadMetrics(metrics, services.store.snapshots);
  registerQueueMetrics(metrics, queues);
  return { services, embedded };
}

export async function closeServices(services: Services, embedded: EmbeddedDatabase | null): Promise<void> {
  await services.progress.close();
  // Background snapshot writes finish before their pool closes.
  await services.store.snapshots.idle();
  await services.queues.close();
  services.redis?.disconnect();
  await services.database.close();
  await embedded?.stop();
}

/** Starts the service in one of its roles: `serve` (HTTP, WebSocket and, unless disabled, projections) or `worker`. */
export async function startRuntime(config: Config, role: 'serve' | 'worker', log: Logger = createLogger(config)): Promise<Runtime> {
  const { services, embedded } = await openServices(config, log);
  await migrateToLatest(services.database.db);
  const runProjections = role === 'worker' || config.server.run_projections;
  const background = runProjections ? await startBackgroundWork(services) : null;
  let app: FastifyInstance | null = null;
  if (role === 'serve') {
    app = await buildApp(services);
    await app.listen({ host: config.server.host, port: config.server.port });
  }
  // What the worker records would otherwise be seen by no one: it has no API to carry /metrics.
  let operations: FastifyInstance | null = null;
  if (role === 'worker' && config.server.worker_metrics_port !== 0) {
    operations = await buildOperationsApp(services);
    await operations.listen({ host: config.server.host, port: config.server.worker_metrics_port });
  }
  let stopping: Promise<void> | null = null;
  return {
    services,
    app,
    operations,
    background,
    stop() {
      // Order matters: stop taking requests, let in-flight ones drain, let the current projector batch finish, then close storage.
      stopping ??= (async () => {
        await Promise.all([app?.close(), operations?.close()]);
        await background?.stop();
        await closeServices(services, embedded);
      })();
      return stopping;
    },
  };
}
