import type { Job } from 'bullmq';
import { anonymous } from '../auth/audit.js';
import type { Services } from '../services.js';
import { collaborationSweep } from './collaboration.js';
import { deadLetterSweep } from './dead-letters.js';
import { ephemeralSweep } from './ephemeral.js';
import { idempotencySweep } from './idempotency.js';
import { registerRetentionMetrics, type RetentionMetrics } from './metrics.js';
import type { Sweep, SweepContext, SweepResult } from './sweep.js';
import { tokenFamilySweep } from './token-families.js';

export const RETENTION_QUEUE = 'tmi-retention';
export const RETENTION_SCHEDULER = 'retention';
const RUN = 'retention-run';

export const SWEEPS: readonly Sweep[] = [ephemeralSweep, idempotencySweep, deadLetterSweep, tokenFamilySweep, collaborationSweep];

export interface RetentionRun { sweep: string; result?: SweepResult; error?: unknown }

/**
 * One retention run: every sweep in turn, each on its own (one failing does not keep the others
 * from running; it starts again where it stopped next time), and within a sweep each item that
 * fails for itself is passed over (onItsOwn). Events it appends name no user:
 * the service acted, under one correlation id per run.
 */
export async function runRetention(services: Services, runId: string, sweeps: readonly Sweep[] = SWEEPS, metrics?: RetentionMetrics): Promise<RetentionRun[]> {
  const log = services.log.child({ component: 'retention', run: runId });
  const context: SweepContext = {
    pool: services.database.pool, store: services.store, config: services.config.retention,
    refreshSessionSeconds: services.config.auth.jwt.refresh_session_seconds,
    metadata: { actor: anonymous, trace_id: null, correlation_id: `retention:${runId}`, causation_id: null, request_id: null },
    log,
  };
  const runs: RetentionRun[] = [];
  for (const sweep of sweeps) {
    try {
      const result = await sweep.run(context);
      metrics?.record(sweep, result);
      if (result.batches.length > 0) log.info({ sweep: sweep.name, removed: result.removed, batches: result.batches.length, failed: result.failed ?? 0 }, 'retention sweep');
      if (sweep.projections && Object.values(result.removed).some((n) => n)) services.wakeups.wake(sweep.projections);
      runs.push({ sweep: sweep.name, result });
    } catch (error) {
      metrics?.failed(sweep);
      log.warn({ err: error, sweep: sweep.name }, 'retention sweep failed; the next run continues from where it stopped');
      runs.push({ sweep: sweep.name, error });
    }
  }
  metrics?.ran();
  return runs;
}

export interface RunningRetention { stop(): Promise<void> }

/**
 * The retention sweep as a BullMQ job scheduler (Redis or the PostgreSQL backend alike): one job
 * every `retention.interval_ms`, run by whichever instance's worker takes it. Disabled, the
 * scheduler is removed, so an instance started with `retention.enabled: false` stops it for all.
 */
export async function startRetention(services: Services): Promise<RunningRetention> {
  const queue = services.queues.queue(RETENTION_QUEUE);
  if (!services.config.retention.enabled) {
    await queue.removeJobScheduler(RETENTION_SCHEDULER);
    return { stop: async () => {} };
  }
  const metrics = registerRetentionMetrics(services.metrics, SWEEPS);
  const log = services.log.child({ component: 'retention' });
  // One run at a time per instance; runs on several instances at once are safe (each sweep is).
  const worker = services.queues.worker(RETENTION_QUEUE, async (job: Job) => {
    await runRetention(services, job.id ?? 'unknown', SWEEPS, metrics);
  }, { concurrency: 1 });
  worker.on('failed', (job, err) => log.warn({ err, job: job?.name }, 'retention job failed'));
  await services.queues.schedule(RETENTION_QUEUE, RETENTION_SCHEDULER, { every: services.config.retention.interval_ms }, {
    name: RUN,
    opts: { removeOnComplete: true, removeOnFail: 100 },
  });
  return { stop: () => worker.close() };
}
