import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { TokenService } from './auth/tokens.js';
import type { Config } from './config/schema.js';
import type { EventStore } from './events/store.js';
import type { Database } from './infra/database.js';
import type { QueueBackend } from './infra/queue.js';
import type { ProjectionProgress, ProjectionWakeups } from './projections/signals.js';

/** What the running service is made of; built once by the runtime and handed to every module. */
export interface Services {
  config: Config;
  log: Logger;
  database: Database;
  store: EventStore;
  queues: QueueBackend;
  /** Present when REDIS_URL is set; otherwise fan-out, OAuth state and rate limits stay in-process or in PostgreSQL. */
  redis: Redis | null;
  metrics: Registry;
  /** Issues and verifies access tokens. */
  tokens: TokenService;
  /** Wakes projectors after a commit. */
  wakeups: ProjectionWakeups;
  /** Tells when projections have reached a position (read-your-writes). */
  progress: ProjectionProgress;
  databaseUrl: string;
  build: { name: string; version: string };
}
