import { EventStore } from '../src/events/store.js';
import { eventCatalog } from '../src/events/registry.js';
import { openDatabase } from '../src/infra/database.js';
import { rebuildTogether } from '../src/projections/rebuild-together.js';
import { projections } from '../src/projections/registry.js';
import { generateEvents } from './rebuild/generate.js';
import { createBenchDatabase } from './lib/database.js';
import { loadAverage, machineFacts } from './lib/machine.js';
import type { BenchOptions, BenchReport } from './lib/report.js';
import { round } from './lib/stats.js';
import type { Cell } from './lib/table.js';

// The bar: 50,000 store events/s rebuilding every projection; Marten's async daemon rebuilds with COPY at 80–110k events/s.
const BAR_EVENTS_PER_SECOND = 50_000;
// The page of the bulk phase's reads before they were a COPY: the paged-SELECT ceiling, for comparison.
const SELECT_PAGE = 20_000;

/**
 * Writes `--events` events (default 1,000,000) of a realistic mix straight into a fresh
 * database's events table, then rebuilds every projection the way a version bump does
 * (src/projections/rebuild.ts: a shadow schema from the first event, then the swap), one after
 * the other, and reports events/s: the store's events over the wall time of rebuilding them
 * all, and per projection the events of its types it applied.
 */
export async function run(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date();
  const db = await createBenchDatabase();
  const database = openDatabase(db.url, { max: 4, applicationName: 'tmi-bench-rebuild' });
  const rows: Cell[][] = [];
  const raw: unknown[] = [];
  let generated: Awaited<ReturnType<typeof generateEvents>>;
  let totalSeconds: number;
  let readSeconds: number;
  let pagedSeconds: number;
  let peakRss = 0;
  try {
    const t0 = performance.now();
    generated = await generateEvents(database.pool, options.events, options.log);
    const generateSeconds = (performance.now() - t0) / 1000;
    options.log(`generated ${generated.total} events in ${generateSeconds.toFixed(1)} s (${Math.round(generated.total / generateSeconds)} events/s)`);
    // Every projection's checkpoint one version behind its code: each is rebuilt as a version bump does it.
    for (const p of projections) await database.pool.query('insert into projection_checkpoints (name, version) values ($1, $2)', [p.name, p.version - 1]);
    const store = new EventStore(database.pool, eventCatalog);
    // The ceilings: one read of every event any projection handles, with nothing folded or written — as the bulk phase
    // reads (one streamed COPY), and in pages of SELECTs as it read before (the driver parsing every row).
    const types = [...new Set(projections.flatMap((p) => p.handles))];
    const paged = performance.now();
    for (let after = 0; ;) {
      const batch = await store.readAll({ after, limit: SELECT_PAGE, types });
      after = batch.settled_through;
      if (batch.events.length < SELECT_PAGE) break;
    }
    pagedSeconds = (performance.now() - paged) / 1000;
    options.log(`read every event once in pages of SELECTs in ${pagedSeconds.toFixed(1)} s (${Math.round(generated.total / pagedSeconds)} store events/s)`);
    const read = performance.now();
    await store.copyAll({ after: 0, types }, () => {});
    readSeconds = (performance.now() - read) / 1000;
    options.log(`read every event once by COPY in ${readSeconds.toFixed(1)} s (${Math.round(generated.total / readSeconds)} store events/s)`);
    const all = performance.now();
    // Every fold's rows are in memory together until written: the peak is part of the result.
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 250);
    const applied = new Map<string, number>();
    const outcomes = await rebuildTogether(database.pool, store, projections, {
      onProgress: (x) => { applied.set(x.projection, x.applied); }, bulk: !options.perEvent, parallel: options.parallel,
    });
    for (const o of outcomes) {
      if ('error' in o) throw new Error(`rebuild of ${o.projection} failed: ${o.error.message}`, { cause: o.error });
      const n = applied.get(o.projection) ?? 0;
      rows.push([o.projection, n, o.build.bulk_applied, round(o.seconds, 2), '']);
      raw.push({ projection: o.projection, applied: n, bulk_applied: o.build.bulk_applied, bulk_refused: o.build.bulk_refused, done_after_seconds: o.seconds, position: o.swap.position });
      options.log(`  ${o.projection.padEnd(24)} ${String(n).padStart(9)} events (${o.build.bulk_applied} in bulk${o.build.bulk_refused ? `, refused: ${o.build.bulk_refused}` : ''}) swapped after ${o.seconds.toFixed(1).padStart(6)} s`);
    }
    clearInterval(sampler);
    totalSeconds = (performance.now() - all) / 1000;
  } finally {
    await database.close();
    await db.drop();
  }
  const rate = generated.total / totalSeconds;
  const appliedSum = rows.reduce((n, r) => n + Number(r[1]), 0);
  rows.push(['all (store events / total time)', generated.total, '', round(totalSeconds, 2), Math.round(rate)]);
  rows.push(['read only, every event once by COPY (the ceiling)', generated.total, '', round(readSeconds, 2), Math.round(generated.total / readSeconds)]);
  rows.push(['read only, every event once in pages of SELECTs', generated.total, '', round(pagedSeconds, 2), Math.round(generated.total / pagedSeconds)]);
  return {
    name: 'rebuild',
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    parameters: { events: generated.total, bulk: !options.perEvent, by_type: generated.byType },
    environment: { ...(await machineFacts()), postgres: db.server, load_average_after: loadAverage(), peak_rss_mib: Math.round(peakRss / 2 ** 20) },
    tables: [{ title: 'Rebuilding every projection from the first event (shadow build + verify + swap)', headers: ['projection', 'events applied', 'of them in bulk', 'swapped after (s)', 'events/s'], rows }],
    verdicts: [{ bar: `rebuild of all projections ≥ ${BAR_EVENTS_PER_SECOND} store events/s`, measured: `${Math.round(rate)} events/s (${generated.total} events in ${totalSeconds.toFixed(1)} s; ${appliedSum} applications)`, pass: rate >= BAR_EVENTS_PER_SECOND }],
    notes: [
      'events are written straight into the events table (the domain deciders make them, positions as the store assigns them), not through HTTP',
      'projections are rebuilt together (src/projections/rebuild-together.ts): one read of the store feeds every bulk fold, then `parallel` projections at a time are written, indexed, verified and swapped; an event several projections handle is read once and folded once by each',
    ],
    raw,
  };
}
