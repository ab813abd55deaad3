import type { Pool } from 'pg';
import type { EventStore } from '../events/store.js';
import { foldInOnePass, releaseFold } from './bulk.js';
import type { Projection } from './projection.js';
import {
  ProjectionRebuild, RebuildBusyError, RebuildLocks, type BuildSummary, type RebuildOptions, type SwapResult, type VerifyReport,
} from './rebuild.js';

export interface TogetherOptions extends RebuildOptions {
  /** Drop shadows earlier builds left first (under the locks). */
  fresh?: boolean;
  /** Projections written, indexed, verified and swapped at once after the shared read (default 2). */
  parallel?: number;
}

/** One projection's outcome: swapped, or the error that stopped it (the others go on). */
export type TogetherOutcome =
  | { projection: string; build: BuildSummary; report: VerifyReport; swap: SwapResult; seconds: number }
  | { projection: string; error: Error; seconds: number };

/**
 * Rebuilds several projections as `ProjectionRebuild.run` rebuilds one, but with their bulk
 * phases fed by one pass over the store (docs/architecture.md, "Rebuilds"): each event is read
 * and parsed once, and handed to the fold of every projection that handles its type, instead of
 * once per projection. Then the projections are written, caught up, indexed, verified and
 * swapped `parallel` at a time (at most the pool's size less one), each on its own, the ones
 * with the most events first; a failure or refusal of one leaves the others going. Each
 * projection's rebuild lock is held on one connection from its prepare to its outcome; one
 * another process holds is that projection's outcome (RebuildBusyError).
 */
export async function rebuildTogether(pool: Pool, store: EventStore, projections: readonly Projection[], options: TogetherOptions = {}): Promise<TogetherOutcome[]> {
  const lanes = lanesFor(pool, options.parallel ?? 2);
  const locks = await RebuildLocks.open(pool);
  try {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const outcomes = new Map<string, TogetherOutcome>();
    // Each projection's lock is let go as soon as its outcome is known (a rollback of one swapped early need not wait for the rest).
    const settle = async (outcome: TogetherOutcome) => {
      outcomes.set(outcome.projection, outcome);
      await locks.unlock(outcome.projection);
    };
    const ready: ProjectionRebuild[] = [];
    for (const p of projections) {
      if (!await locks.tryLock(p.name)) {
        outcomes.set(p.name, { projection: p.name, error: new RebuildBusyError(p.name), seconds: seconds() });
        continue;
      }
      const rebuild = new ProjectionRebuild(pool, store, p, options);
      try {
        if (options.fresh) await rebuild.discard();
        await rebuild.prepare();
        ready.push(rebuild);
      } catch (err) {
        await settle({ projection: p.name, error: err as Error, seconds: seconds() });
      }
    }
    const eligible: ProjectionRebuild[] = [];
    for (const r of ready) if (await r.bulkEligible()) eligible.push(r);
    const { passes, position } = await foldInOnePass(store, eligible.map((r) => r.projection), {
      signal: options.signal,
      onPage: (now, at) => { for (const [p, pass] of now) options.onProgress?.({ projection: p.name, applied: pass.applied, total: pass.applied, position: at }); },
    });
    // The most work first (the events each fold took stand for it), so the largest table is not written, indexed and swapped alone at the end.
    const work = (r: ProjectionRebuild) => passes.get(r.projection)?.applied ?? 0;
    await inParallel([...ready].sort((a, b) => work(b) - work(a)), lanes, async (rebuild) => {
      const name = rebuild.projection.name;
      try {
        const pass = passes.get(rebuild.projection);
        const bulk = !pass ? undefined
          : pass.refused !== undefined ? { bulk_applied: 0, bulk_refused: pass.refused }
          : await rebuild.writeFolded(pass.fold, position, pass.applied);
        if (pass) releaseFold(pass); // its rows are written: let them go before the next projection's
        await settle({ projection: name, ...await rebuild.finish(await rebuild.build(bulk), locks), seconds: seconds() });
      } catch (err) {
        await settle({ projection: name, error: err as Error, seconds: seconds() });
      }
    });
    return projections.map((p) => outcomes.get(p.name)!);
  } finally {
    await locks.close();
  }
}

/**
 * How many projections may be written and swapped at once with this pool: the locks hold one
 * connection throughout, and the read and each lane need one of their own beside it. More lanes
 * than the pool has left would only queue; a pool of one would wait on itself for ever.
 */
function lanesFor(pool: Pool, wanted: number): number {
  const size = pool.options.max ?? 10;
  if (size < 2) throw new Error(`a rebuild needs a database pool of at least 2 connections (this one has ${size}): one holds the rebuild locks`);
  return Math.max(1, Math.min(wanted, size - 1));
}

/** Runs `fn` over `items`, at most `limit` at once. */
async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const lane = async () => { for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item); };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, queue.length)) }, lane));
}
