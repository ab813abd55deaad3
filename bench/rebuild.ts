import { EventStore } from '../src/events/store.js';
import { eventCatalog } from '../src/events/registry.js';
import { openDatabase } from '../src/infra/database.js';
import { BULK_READ_PAGE, ProjectionRebuild } from '../src/projections/rebuild.js';
import { projections } from '../src/projections/registry.js';
import { generateEvents } from './rebuild/generate.js';
import { createBenchDatabase } from './lib/database.js';
import { loadAverage, machineFacts } from './lib/machine.js';
import type { BenchOptions, BenchReport } from './lib/report.js';
import { round } from './lib/stats.js';
import type { Cell } from './lib/table.js';

// The bar: 50,000 store events/s rebuilding every projection; Marten's async daemon rebuilds with COPY at 80–110k events/s.
const BAR_EVENTS_PER_SECOND = 50_000;

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
  try {
    const t0 = performance.now();
    generated = await generateEvents(database.pool, options.events, options.log);
    const generateSeconds = (performance.now() - t0) / 1000;
    options.log(`generated ${generated.total} events in ${generateSeconds.toFixed(1)} s (${Math.round(generated.total / generateSeconds)} events/s)`);
    // Every projection's checkpoint one version behind its code: each is rebuilt as a version bump does it.
    for (const p of projections) await database.pool.query('insert into projection_checkpoints (name, version) values ($1, $2)', [p.name, p.version - 1]);
    const store = new EventStore(database.pool, eventCatalog);
    // The ceiling: reading every projection's events as the bulk phase does, with nothing folded or written.
    const read = performance.now();
    for (const p of projections) {
      for (let after = 0; ;) {
        const batch = await store.readAll({ after, limit: BULK_READ_PAGE, types: p.handles });
        after = batch.settled_through;
        if (batch.events.length < BULK_READ_PAGE) break;
      }
    }
    readSeconds = (performance.now() - read) / 1000;
    options.log(`read every projection's events in ${readSeconds.toFixed(1)} s (${Math.round(generated.total / readSeconds)} store events/s)`);
    const all = performance.now();
    for (const p of projections) {
      const t = performance.now();
      let applied = 0;
      const { swap, build } = await new ProjectionRebuild(database.pool, store, p, { onProgress: (x) => { applied = x.applied; }, bulk: !options.perEvent }).run();
      const seconds = (performance.now() - t) / 1000;
      rows.push([p.name, applied, build.bulk_applied, round(seconds, 2), Math.round(applied / seconds)]);
      raw.push({ projection: p.name, applied, bulk_applied: build.bulk_applied, bulk_refused: build.bulk_refused, seconds, position: swap.position });
      options.log(`  ${p.name.padEnd(24)} ${String(applied).padStart(9)} events (${build.bulk_applied} in bulk${build.bulk_refused ? `, refused: ${build.bulk_refused}` : ''}) ${seconds.toFixed(1).padStart(6)} s ${Math.round(applied / seconds)} events/s`);
    }
    totalSeconds = (performance.now() - all) / 1000;
  } finally {
    await database.close();
    await db.drop();
  }
  const rate = generated.total / totalSeconds;
  const appliedSum = rows.reduce((n, r) => n + Number(r[1]), 0);
  rows.push(['all (store events / total time)', generated.total, '', round(totalSeconds, 2), Math.round(rate)]);
  rows.push(['read only, every projection\'s events (the ceiling)', generated.total, '', round(readSeconds, 2), Math.round(generated.total / readSeconds)]);
  return {
    name: 'rebuild',
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    parameters: { events: generated.total, bulk: !options.perEvent, by_type: generated.byType },
    environment: { ...(await machineFacts()), postgres: db.server, load_average_after: loadAverage() },
    tables: [{ title: 'Rebuilding every projection from the first event (shadow build + verify + swap)', headers: ['projection', 'events applied', 'of them in bulk', 'seconds', 'events/s'], rows }],
    verdicts: [{ bar: `rebuild of all projections ≥ ${BAR_EVENTS_PER_SECOND} store events/s`, measured: `${Math.round(rate)} events/s (${generated.total} events in ${totalSeconds.toFixed(1)} s; ${appliedSum} applications)`, pass: rate >= BAR_EVENTS_PER_SECOND }],
    notes: [
      'events are written straight into the events table (the domain deciders make them, positions as the store assigns them), not through HTTP',
      'projections are rebuilt one after another, each reading the events of its types; an event several projections handle is applied once by each',
    ],
    raw,
  };
}
