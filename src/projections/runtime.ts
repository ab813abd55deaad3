import type { Job } from 'bullmq';
import type { Services } from '../services.js';
import { projections as registered, projectionNamed } from './registry.js';
import type { Projection } from './projection.js';
import { ProjectionRunner } from './runner.js';
import { startBackgroundRebuilds } from './background-rebuild.js';
import { CATCH_UP_ALL, PROJECTION_QUEUE } from './signals.js';

/**
 * How soon a projection runs again when committed events of its types were still beyond the
 * safe horizon (an older transaction — typically another projector's batch — was open). Short:
 * such transactions last milliseconds, and a read-your-writes wait is counting.
 */
export const RECHECK_DELAY_MS = 20;
/**
 * A re-check that found the horizon still held waits twice as long as the one before, up to
 * this: a transaction left open for minutes (an idle psql session) must not spin every projector
 * fifty times a second, while the usual millisecond-long hold is still passed within ~20 ms.
 */
export const RECHECK_MAX_DELAY_MS = 1_000;

/** The delay before the next re-check, after `stalled` re-checks in a row that moved nothing. */
export const recheckDelay = (stalled: number): number => Math.min(RECHECK_DELAY_MS * 2 ** stalled, RECHECK_MAX_DELAY_MS);

export interface RunningProjections {
  runner: ProjectionRunner;
  /** Settles once no projection is found stale (version bumps built and swapped in); the rebuilder keeps watching. */
  rebuilds: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the BullMQ worker that runs projection catch-ups, and the job scheduler that wakes
 * every projection every few seconds in case a wake-up was lost (a crash between commit and
 * enqueue, a Redis restart).
 */
export async function startProjections(services: Services, list: readonly Projection[] = registered): Promise<RunningProjections> {
  const runner = new ProjectionRunner(services.database.pool, services.store, services.log);
  for (const p of list) await runner.ensureRegistered(p);
  const log = services.log.child({ component: 'projections' });
  const queue = services.queues.queue(PROJECTION_QUEUE);
  // Watches every projection, not only those stale now: a rollback makes one stale again later.
  const rebuilds = startBackgroundRebuilds(services.database.pool, services.store, log, list, async (p) => {
    await queue.add(p.name, { projection: p.name }, { removeOnComplete: true, removeOnFail: 100 });
  });

  // Its own deduplication id, so a pending re-check never swallows (or delays) a wake-up; and
  // keepLastIfActive, so a re-check asked for by the running re-check is queued after it.
  const recheckSoon = async (name: string, stalled: number) => {
    try {
      await queue.add(name, { projection: name, recheck: true, stalled }, {
        delay: recheckDelay(stalled),
        deduplication: { id: `${name}:recheck`, keepLastIfActive: true },
        removeOnComplete: true, removeOnFail: 100,
      });
    } catch (err) {
      log.warn({ err, projection: name }, 'projection re-check not queued; the safety net picks it up');
    }
  };

  // Where each projection's last batch in this process left it: a re-check that got no further backs off.
  const lastPosition = new Map<string, number>();
  const worker = services.queues.worker(PROJECTION_QUEUE, async (job: Job) => {
    const safetyNet = job.name === CATCH_UP_ALL;
    const targets = safetyNet ? list : [projectionNamed(job.name, list)];
    for (const p of targets) {
      const before = lastPosition.get(p.name);
      const result = await runner.catchUp(p, { wait: !safetyNet });
      if (result.ran) lastPosition.set(p.name, result.position);
      if (result.applied > 0) log.debug({ projection: p.name, applied: result.applied, position: result.position }, 'projection caught up');
      if (!result.behind) continue;
      const moved = result.applied > 0 || before === undefined || result.position > before;
      const stalled = job.data?.recheck && !moved ? Number(job.data.stalled ?? 0) + 1 : 0;
      await recheckSoon(p.name, stalled);
    }
  }, { concurrency: list.length + 1 });
  worker.on('failed', (job, err) => log.warn({ err, job: job?.name }, 'projection job failed; BullMQ retries it'));
  await services.queues.schedule(PROJECTION_QUEUE, 'projections-safety-net', { every: services.config.server.projection_safety_net_ms }, {
    name: CATCH_UP_ALL,
    opts: { removeOnComplete: true, removeOnFail: 100 },
  });
  await queue.add(CATCH_UP_ALL, {}, { removeOnComplete: true, deduplication: { id: CATCH_UP_ALL } });
  return {
    runner,
    // Worker.close waits for the job in hand, so the current batch finishes and commits.
    rebuilds: rebuilds.settled,
    stop: async () => {
      await rebuilds.stop();
      await worker.close();
    },
  };
}
