import { Queue, Worker, createPostgresBackend, type JobSchedulerTemplateOptions, type Processor, type RepeatOptions, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * Where BullMQ keeps its jobs: Redis when a URL is configured, otherwise BullMQ's own
 * PostgreSQL backend in the service's database (embedded mode needs no Redis at all).
 */
export interface QueueBackend {
  readonly kind: 'redis' | 'postgres';
  queue(name: string): Queue;
  worker(name: string, processor: Processor, options?: Omit<WorkerOptions, 'connection' | 'prefix'>): Worker;
  /**
   * Keeps a job scheduler in place: upserted now, and with Redis again each time the connection
   * comes back, since a Redis that restarted without persistence lost it with every job (and a
   * lost safety net would never wake anything again).
   */
  schedule(queue: string, id: string, repeat: Omit<RepeatOptions, 'key'>, template: ScheduledJob): Promise<void>;
  /** The queues this process has opened so far (what its metrics report). */
  opened(): Queue[];
  close(): Promise<void>;
}

/** The job a scheduler produces. */
export interface ScheduledJob { name: string; data?: Record<string, unknown>; opts?: JobSchedulerTemplateOptions }

/** How often, and how far apart, a scheduler is upserted again after a reconnect before it is left for the next one. */
const RESCHEDULE_ATTEMPTS = 10;
const RESCHEDULE_PAUSE_MS = 1_000;

export function openQueueBackend(options: { redisUrl?: string; databaseUrl: string; prefix: string; log?: Logger }): QueueBackend {
  const queues = new Map<string, Queue>();
  const workers: Worker[] = [];
  if (options.redisUrl) {
    const redisUrl = options.redisUrl;
    // Producers fail fast so a command never waits on a Redis outage; the safety-net scheduler repairs lost wake-ups.
    const producer = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    producer.on('error', () => {});
    const schedules = new Map<string, () => Promise<unknown>>();
    let readies = 0;
    let closed = false;
    producer.on('ready', () => {
      // The first ready is the start, where schedule() upserts itself; every later one is a reconnect.
      if (readies++ === 0) return;
      for (const [key, upsert] of schedules) {
        void (async () => {
          let last: unknown;
          for (let attempt = 1; attempt <= RESCHEDULE_ATTEMPTS && !closed; attempt++) {
            try {
              return void await upsert();
            } catch (err) {
              last = err;
              await new Promise((resolve) => setTimeout(resolve, RESCHEDULE_PAUSE_MS));
            }
          }
          if (!closed) options.log?.warn({ err: last, scheduler: key.replace('\u0000', '/') }, 'job scheduler not put back after the Redis reconnect; it is tried again at the next one');
        })();
      }
    });
    const backend: QueueBackend = {
      kind: 'redis',
      async schedule(queue, id, repeat, template) {
        const upsert = () => backend.queue(queue).upsertJobScheduler(id, repeat, template);
        schedules.set(`${queue}\u0000${id}`, upsert);
        await upsert();
      },
      queue(name) {
        let q = queues.get(name);
        if (!q) {
          q = new Queue(name, { connection: producer, prefix: options.prefix });
          q.on('error', () => {});
          queues.set(name, q);
        }
        return q;
      },
      worker(name, processor, workerOptions = {}) {
        const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
        connection.on('error', () => {});
        const w = new Worker(name, processor, { ...workerOptions, connection, prefix: options.prefix });
        w.on('error', () => {});
        w.on('closed', () => connection.disconnect());
        workers.push(w);
        return w;
      },
      opened: () => [...queues.values()],
      async close() {
        closed = true;
        await Promise.allSettled(workers.map((w) => w.close()));
        await Promise.allSettled([...queues.values()].map((q) => q.close()));
        producer.disconnect();
      },
    };
    return backend;
  }
  const connection = { connectionString: options.databaseUrl, schema: `bullmq_${options.prefix}`, migrate: true, max: 4 };
  const backend: QueueBackend = {
    kind: 'postgres',
    // The schedulers live in the service's own database, which does not forget them.
    async schedule(queue, id, repeat, template) {
      await backend.queue(queue).upsertJobScheduler(id, repeat, template);
    },
    queue(name) {
      let q = queues.get(name);
      if (!q) {
        q = new Queue(name, { connection }, createPostgresBackend) as unknown as Queue;
        q.on('error', () => {});
        queues.set(name, q);
      }
      return q;
    },
    worker(name, processor, workerOptions = {}) {
      const w = new Worker(name, processor, { ...workerOptions, connection }, createPostgresBackend);
      w.on('error', () => {});
      workers.push(w as unknown as Worker);
      return w as unknown as Worker;
    },
    opened: () => [...queues.values()],
    async close() {
      await Promise.allSettled(workers.map((w) => w.close()));
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
    },
  };
  return backend;
}
