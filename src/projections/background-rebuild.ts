import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Pool } from 'pg';
import type { EventStore } from '../events/store.js';
import type { Projection } from './projection.js';
import { ProjectionRebuild, RebuildBusyError, RebuildRefusedError, RebuildSupersededError } from './rebuild.js';

/** How often a process looks for projections whose live version is older than its code (and not being built by it). */
export const REBUILD_RETRY_MS = 5_000;
/** The longest a build that keeps failing waits before its next try (the wait doubles from REBUILD_RETRY_MS). */
export const REBUILD_MAX_BACKOFF_MS = 5 * 60_000;
/** Background builds at once; the rest wait their turn. */
const PARALLEL_REBUILDS = 2;

export interface BackgroundRebuilds {
  /** Resolves the first time this process finds none of its projections stale and none building (or once stopped); it keeps watching after that. */
  settled: Promise<void>;
  stop(): Promise<void>;
}

export interface BackgroundRebuildOptions {
  /** REBUILD_RETRY_MS unless given (tests). */
  retryMs?: number;
  maxBackoffMs?: number;
}

/** A failed try, shared by every process (`projections status`, the metrics); counted per version. */
async function recordFailure(pool: Pool, p: Projection, err: unknown): Promise<number> {
  const { rows } = await pool.query<{ failures: number }>(
    `insert into projection_rebuild_failures (name, version, failures, last_error) values ($1, $2, 1, $3)
     on conflict (name) do update set failures = case when projection_rebuild_failures.version = excluded.version then projection_rebuild_failures.failures + 1 else 1 end,
       version = excluded.version, last_error = excluded.last_error, failed_at = now()
     returning failures`,
    [p.name, p.version, String((err as Error)?.message ?? err).slice(0, 4000)]);
  return rows[0]!.failures;
}

/**
 * Builds every projection of `list` whose code is newer than its live tables beside them, and
 * swaps it in: what a version bump does on deploy. Until the swap the live tables move only
 * while workers of their own (older) version run, so this never gives up: every REBUILD_RETRY_MS
 * it looks again which projections are stale — a rollback can make one stale long after start —
 * and tries those it is not building, two at a time. One process builds a projection (the
 * rebuild's own lock); the others find it busy and look again later, in case it died. A try
 * that fails or is refused is logged, counted in `projection_rebuild_failures` (shown by
 * `projections status` and `tmi_projection_rebuild_failures`) and tried again after a wait that
 * doubles up to REBUILD_MAX_BACKOFF_MS, giving the slot to the others meanwhile; after a refusal
 * (a shadow that does not verify) the next try starts from a fresh shadow.
 */
export function startBackgroundRebuilds(
  pool: Pool, store: EventStore, log: Logger, list: readonly Projection[], onSwapped: (p: Projection) => Promise<void>,
  options: BackgroundRebuildOptions = {},
): BackgroundRebuilds {
  const retryMs = options.retryMs ?? REBUILD_RETRY_MS;
  const maxBackoffMs = options.maxBackoffMs ?? REBUILD_MAX_BACKOFF_MS;
  const abort = new AbortController();
  // A build holds two of the pool's connections (its lock and its work) for its whole length:
  // all stale projections at once (a bump of the six child kinds) would starve the API, or deadlock the pool.
  const building = new Map<string, Promise<void>>();
  const failing = new Map<string, { tries: number; next: number; refused: boolean }>();
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => { settle = resolve; });
  let nudge = () => {};

  const stale = async () => {
    const { rows } = await pool.query<{ name: string; version: number }>(
      'select name, version from projection_checkpoints where name = any($1::text[])', [list.map((p) => p.name)]);
    return list.filter((p) => (rows.find((r) => r.name === p.name)?.version ?? 0) < p.version);
  };

  const attempt = async (p: Projection): Promise<void> => {
    const before = failing.get(p.name);
    try {
      const { swap, report } = await new ProjectionRebuild(pool, store, p, { signal: abort.signal }).run({ fresh: before?.refused === true });
      failing.delete(p.name);
      log.info({ projection: p.name, version: p.version, position: swap.position, compared: report.compared, retired: swap.retired }, 'projection rebuilt and swapped in');
      await pool.query('delete from projection_rebuild_failures where name = $1', [p.name]).catch((err: unknown) => log.warn({ err, projection: p.name }, 'could not clear the projection\'s rebuild failures'));
      await onSwapped(p).catch((err: unknown) => log.warn({ err, projection: p.name }, 'wake-up after the swap not sent; the safety net picks it up'));
    } catch (err) {
      if (abort.signal.aborted) return;
      // Another process builds it, or a newer version took it over: neither is this build failing.
      if (err instanceof RebuildBusyError || err instanceof RebuildSupersededError) return;
      const tries = (before?.tries ?? 0) + 1;
      const wait = Math.min(retryMs * 2 ** (tries - 1), maxBackoffMs);
      failing.set(p.name, { tries, next: Date.now() + wait, refused: err instanceof RebuildRefusedError });
      const failures = await recordFailure(pool, p, err).catch(() => tries);
      const detail = err instanceof RebuildRefusedError ? { report: err.report } : { err };
      log.error({ ...detail, projection: p.name, version: p.version, failures, retry_in_ms: wait },
        'projection rebuild failed; its live tables move only while workers of the old version run; trying again');
    }
  };

  const look = async () => {
    let due: Projection[];
    try {
      due = await stale();
    } catch (err) {
      return void log.warn({ err }, 'could not read the projections\' versions; looking again later');
    }
    if (due.length === 0 && building.size === 0) settle();
    for (const p of due) {
      if (building.size >= PARALLEL_REBUILDS) break;
      if (building.has(p.name) || (failing.get(p.name)?.next ?? 0) > Date.now()) continue;
      building.set(p.name, attempt(p).finally(() => {
        building.delete(p.name);
        nudge();
      }));
    }
  };

  const watching = (async () => {
    while (!abort.signal.aborted) {
      await look();
      // A build that ends lets the next one start at once.
      const nudged = new Promise<void>((resolve) => { nudge = resolve; });
      await Promise.race([sleep(retryMs, undefined, { signal: abort.signal }).catch(() => {}), nudged]);
    }
    await Promise.all(building.values());
    settle();
  })();

  return {
    settled,
    async stop() {
      abort.abort(new Error('stopping'));
      nudge();
      await watching;
    },
  };
}
