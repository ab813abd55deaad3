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
export const AUTH_EPHEMERAL_SCHEDULER = 'auth-ephemeral';
export const RETENTION_RUN = 'retention-run';
const AUTH_EPHEMERAL_RUN = 'auth-ephemeral-run';

/** What `retention.enabled` governs: how long records and facts are kept before they go. */
export const RETENTION_SWEEPS: readonly Sweep[] = [idempotencySweep, deadLetterSweep, tokenFamilySweep, collaborationSweep];
/**
 * Swept whether or not retention is enabled: expired short-lived auth state keeps nothing anyone
 * may want kept, every read ignores it already, and before the retention sweep existed the
 * ephemeral store cleared it itself; with retention off the table would only grow.
 */
export const ALWAYS_SWEPT: readonly Sweep[] = [ephemeralSweep];
export const SWEEPS: readonly Sweep[] = [...ALWAYS_SWEPT, ...RETENTION_SWEEPS];

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
  return runs;
}

export interface RunningRetention { stop(): Promise<void> }

/**
 * The sweeps as two BullMQ job schedulers on one queue (Redis or the PostgreSQL backend alike),
 * each one job every `retention.interval_ms`, run by whichever instance's worker takes it:
 * `auth-ephemeral` (ALWAYS_SWEPT) always, `retention` (RETENTION_SWEEPS) only when enabled.
 * Disabled, the `retention` scheduler is removed, so an instance started with
 * `retention.enabled: false` stops it for all; expired auth state is still cleared.
 */
export async function startRetention(services: Services): Promise<RunningRetention> {
  const queue = services.queues.queue(RETENTION_QUEUE);
  const { enabled, interval_ms: every } = services.config.retention;
  if (!enabled) await queue.removeJobScheduler(RETENTION_SCHEDULER);
  const metrics = registerRetentionMetrics(services.metrics, enabled ? SWEEPS : ALWAYS_SWEPT);
  const log = services.log.child({ component: 'retention' });
  // One run at a time per instance; runs on several instances at once are safe (each sweep is).
  const worker = services.queues.worker(RETENTION_QUEUE, async (job: Job) => {
    const runId = job.id ?? 'unknown';
    if (job.name === AUTH_EPHEMERAL_RUN) {
      await runRetention(services, runId, ALWAYS_SWEPT, metrics);
      return;
    }
    // Queued by an instance that has retention on: this one's operator turned it off, so it sweeps
    // nothing of it (the run is missed, the next comes an interval later). The setting belongs alike on every instance.
    if (!enabled) {
      log.warn({ job: runId }, 'retention is off on this instance: a retention run another instance scheduled is skipped');
      return;
    }
    await runRetention(services, runId, RETENTION_SWEEPS, metrics);
    // Only the full run counts: the auth-ephemeral one runs with retention off too, and would hide a retention run that stopped.
    metrics.ran();
  }, { concurrency: 1 });
  worker.on('failed', (job, err) => log.warn({ err, job: job?.name }, 'retention job failed'));
  const opts = { removeOnComplete: true, removeOnFail: 100 };
  await services.queues.schedule(RETENTION_QUEUE, AUTH_EPHEMERAL_SCHEDULER, { every }, { name: AUTH_EPHEMERAL_RUN, opts });
  if (enabled) await services.queues.schedule(RETENTION_QUEUE, RETENTION_SCHEDULER, { every }, { name: RETENTION_RUN, opts });
  return { stop: () => worker.close() };
}
