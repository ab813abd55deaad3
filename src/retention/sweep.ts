import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { EventStore } from '../events/store.js';
import type { EventMetadata } from '../events/types.js';
import { transientDatabaseError } from '../infra/database-errors.js';

export type RetentionConfig = Config['retention'];

/** What a sweep needs: storage, the retention settings, and the metadata its events carry. */
export interface SweepContext {
  pool: Pool;
  store: EventStore;
  config: RetentionConfig;
  /** The absolute refresh-session length, for the token families' decider. */
  refreshSessionSeconds: number;
  metadata: EventMetadata;
  log: Logger;
}

/**
 * What one run of a sweep did: items removed (or expired) per kind, the size of each batch it
 * took, and how many items failed on their own and were passed over (onItsOwn).
 */
export interface SweepResult {
  removed: Partial<Record<string, number>>;
  batches: number[];
  failed?: number;
}

/** One kind of thing that expires, and how it is cleared. */
export interface Sweep {
  name: string;
  /** The `kind` labels it reports, so the metric shows each at 0 before anything expired. */
  kinds: readonly string[];
  /** Projections that read what its events change, woken when it did something. */
  projections?: readonly string[];
  run(context: SweepContext): Promise<SweepResult>;
}

/**
 * Runs `step` (one bounded statement or transaction, at most `limit` items) until one takes less
 * than a full batch. Each step commits on its own, so a backlog of millions holds no lock for
 * longer than one batch takes; another instance sweeping at once skips the rows this one holds.
 * The steps' deletes name their rows as `key = any(array(select … limit n for update skip locked))`,
 * two index scans: `key in (select …)` is planned as a hash join over the whole table, every batch.
 */
export async function inBatches(limit: number, step: (limit: number) => Promise<number>): Promise<number[]> {
  const sizes: number[] = [];
  for (;;) {
    const n = await step(limit);
    if (n > 0) sizes.push(n);
    if (n < limit) return sizes;
  }
}

/** Adds `n` to the count of `kind`. */
export const tally = (removed: SweepResult['removed'], kind: string, n = 1): void => {
  removed[kind] = (removed[kind] ?? 0) + n;
};

/**
 * Does one item's work on its own. An item that fails for itself (a stream that cannot be decided
 * on, an append the store refuses) is logged, counted in `result.failed` and passed over: failing
 * the whole sweep instead, it would fail every later run at the same place, and nothing after it
 * would ever be swept. A transient failure of the database still ends the run (every item would
 * fail alike); the next run starts again where it stopped.
 */
export async function onItsOwn(context: Pick<SweepContext, 'log'>, result: Pick<SweepResult, 'failed'>, item: Record<string, unknown>, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (transientDatabaseError(err) !== null) throw err;
    result.failed = (result.failed ?? 0) + 1;
    context.log.warn({ err, ...item }, 'retention item failed; passed over, the sweep goes on');
  }
}
