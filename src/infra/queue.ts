import { Queue, Worker, createPostgresBackend, type Processor, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';

/**
 * Where BullMQ keeps its jobs: Redis when a URL is configured, otherwise BullMQ's own
 * PostgreSQL backend in the service's database (embedded mode needs no Redis at all).
 */
export interface QueueBackend {
  readonly kind: 'redis' | 'postgres';
  queue(name: string): Queue;
  worker(name: string, processor: Processor, options?: Omit<WorkerOptions, 'connection' | 'prefix'>): Worker;
  /** The queues this process has opened so far (what its metrics report). */
  opened(): Queue[];
  close(): Promise<void>;
}

export function openQueueBackend(options: { redisUrl?: string; databaseUrl: string; prefix: string }): QueueBackend {
  const queues = new Map<string, Queue>();
  const workers: Worker[] = [];
  if (options.redisUrl) {
    const redisUrl = options.redisUrl;
    // Producers fail fast so a command never waits on a Redis outage; the safety-net scheduler repairs lost wake-ups.
    const producer = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    producer.on('error', () => {});
    return {
      kind: 'redis',
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
        await Promise.allSettled(workers.map((w) => w.close()));
        await Promise.allSettled([...queues.values()].map((q) => q.close()));
        producer.disconnect();
      },
    };
  }
  const connection = { connectionString: options.databaseUrl, schema: `bullmq_${options.prefix}`, migrate: true, max: 4 };
  return {
    kind: 'postgres',
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
}
