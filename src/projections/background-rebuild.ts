import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Pool } from 'pg';
import type { EventStore } from '../events/store.js';
import type { Projection } from './projection.js';
import { ProjectionRebuild, RebuildBusyError, RebuildRefusedError } from './rebuild.js';

/** How often a process that does not hold a projection's rebuild looks again (the holder may have died). */
export const REBUILD_RETRY_MS = 5_000;

export interface BackgroundRebuilds {
  /** Resolves once every rebuild this process started has swapped, been refused, or been stopped. */
  settled: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Builds every projection whose code is newer than its live tables beside them, and swaps it
 * in: what a version bump does on deploy. One process builds a projection (the rebuild's own
 * lock); the others look again now and then, in case it died. A refused swap (the shadow does
 * not verify) is logged and left for an operator; the old version keeps serving.
 */
/** Background builds at once; the rest wait their turn. */
const PARALLEL_REBUILDS = 2;

export function startBackgroundRebuilds(
  pool: Pool, store: EventStore, log: Logger, stale: readonly Projection[], onSwapped: (p: Projection) => Promise<void>,
): BackgroundRebuilds {
  const abort = new AbortController();
  const current = async (p: Projection) =>
    (await pool.query<{ version: number }>('select version from projection_checkpoints where name = $1', [p.name])).rows[0]?.version ?? 0;
  const one = async (p: Projection): Promise<void> => {
    while (!abort.signal.aborted && (await current(p)) < p.version) {
      try {
        const rebuild = new ProjectionRebuild(pool, store, p, { signal: abort.signal });
        const { swap, report } = await rebuild.run();
        log.info({ projection: p.name, version: p.version, position: swap.position, compared: report.compared, retired: swap.retired }, 'projection rebuilt and swapped in');
        await onSwapped(p);
        return;
      } catch (err) {
        if (abort.signal.aborted) return;
        if (err instanceof RebuildRefusedError) return void log.error({ projection: p.name, report: err.report }, 'projection rebuild refused: the shadow did not verify');
        if (!(err instanceof RebuildBusyError)) log.error({ err, projection: p.name }, 'projection rebuild failed; trying again');
        await sleep(REBUILD_RETRY_MS, undefined, { signal: abort.signal }).catch(() => {});
      }
    }
  };
  // A build holds two of the pool's connections (its lock and its work) for its whole length:
  // all stale projections at once (a bump of the six child kinds) would starve the API, or deadlock the pool.
  const queue = [...stale];
  const runner = async () => { for (let p = queue.shift(); p; p = queue.shift()) await one(p); };
  const settled = Promise.all(Array.from({ length: Math.min(PARALLEL_REBUILDS, queue.length) }, runner)).then(() => undefined);
  return {
    settled,
    async stop() {
      abort.abort(new Error('stopping'));
      await settled;
    },
  };
}
