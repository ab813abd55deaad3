import { Gauge, type Registry } from 'prom-client';
import type { QueueBackend } from './queue.js';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;
/** A scrape must answer while Redis is down: a count that takes longer is left out of that scrape. */
const COUNT_TIMEOUT_MS = 1000;

/** BullMQ's queue depth by queue and state, read at scrape time from whichever backend holds the jobs. */
export function registerQueueMetrics(registry: Registry, queues: QueueBackend): void {
  new Gauge({
    name: 'tmi_queue_jobs',
    help: 'BullMQ jobs by queue and state, counted at scrape time (wake-ups and schedulers; events never travel through BullMQ)',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(queues.opened().map(async (queue) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), COUNT_TIMEOUT_MS); });
        const counts = await Promise.race([queue.getJobCounts(...STATES).catch(() => null), timeout]);
        clearTimeout(timer);
        if (!counts) return;
        for (const state of STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
      }));
    },
  });
}
