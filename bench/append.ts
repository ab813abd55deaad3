import { randomBytes } from 'node:crypto';
import { createBenchDatabase } from './lib/database.js';
import { runSlice, summarize, type CellResult } from './lib/measure.js';
import type { BenchOptions, BenchReport, Verdict } from './lib/report.js';
import type { Cell } from './lib/table.js';
import { emmett } from './append/emmett.js';
import { rawInsert } from './append/raw.js';
import { projectStore } from './append/store.js';
import { takeTurns } from './append/turns.js';
import { selectWorkloads, type SystemUnderTest } from './append/workload.js';
import { machineFacts } from './lib/machine.js';

// DESIGN §7: at 8 writers, ≥ 60 % of the raw INSERT rate and ≥ 1.5× emmett.
const BAR_WRITERS = 8;
const BAR_VS_RAW = 0.6;
const BAR_VS_EMMETT = 1.5;

const SYSTEMS: SystemUnderTest[] = [rawInsert, projectStore, emmett];

interface Measurement extends CellResult {
  workload: string;
  writers: number;
  system: string;
}

const round = (n: number, digits = 0): number => (Number.isFinite(n) ? Number(n.toFixed(digits)) : NaN);
const pct = (n: number): string => (Number.isFinite(n) ? `${Math.round(n * 100)} %` : 'n/a');
const times = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');

export async function run(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date();
  const workloads = selectWorkloads(options.only);
  const db = await createBenchDatabase();
  const runTag = randomBytes(3).toString('hex');
  const measurements: Measurement[] = [];
  options.log(`database ${db.name} (PostgreSQL ${db.server.version}, synchronous_commit=${db.server.synchronous_commit})`);
  try {
    for (const system of SYSTEMS) await system.setup(db.url);
    for (const workload of workloads) {
      for (const writers of options.writers) {
        const slices = await takeTurns({
          url: db.url, systems: SYSTEMS, workload, writers, slices: options.slices,
          cellTag: `${runTag}-${workload.batch}${workload.stream[0]}-${writers}`,
          measure: (_system, target) => runSlice({
            writers,
            warmupMs: (options.warmupSeconds * 1000) / options.slices,
            measureMs: (options.seconds * 1000) / options.slices,
            op: (w) => target.op(w),
          }),
        });
        SYSTEMS.forEach((system, i) => {
          const result = summarize(slices[i]!);
          measurements.push({ workload: workload.name, writers, system: system.name, ...result });
          options.log(`${workload.name.padEnd(20)} ${String(writers).padStart(2)} writers  ${system.name.padEnd(10)} ${round(result.events_per_s).toString().padStart(7)} events/s` +
            `  slices ${result.slice_events_per_s.join(' ')}` + (result.errors ? `  (${result.errors} errors: ${result.first_error})` : ''));
        });
      }
    }
  } finally {
    await db.drop();
  }

  const find = (workload: string, writers: number, system: string) =>
    measurements.find((m) => m.workload === workload && m.writers === writers && m.system === system);
  const rows: Cell[][] = [];
  const verdicts: Verdict[] = [];
  for (const workload of workloads) {
    for (const writers of options.writers) {
      const raw = find(workload.name, writers, rawInsert.name)!;
      const peer = find(workload.name, writers, emmett.name)!;
      const ours = find(workload.name, writers, projectStore.name)!;
      for (const m of [raw, ours, peer]) {
        const isOurs = m === ours;
        rows.push([
          workload.name, writers, m.system,
          round(m.events_per_s), round(m.commits_per_s), round(m.p50_ms, 2), round(m.p99_ms, 2), m.errors,
          isOurs ? pct(ours.events_per_s / raw.events_per_s) : null,
          isOurs ? times(ours.events_per_s / peer.events_per_s) : null,
        ]);
      }
      if (writers === BAR_WRITERS) {
        const vsRaw = ours.events_per_s / raw.events_per_s;
        const vsPeer = ours.events_per_s / peer.events_per_s;
        verdicts.push(
          { bar: `${workload.name}, ${writers} writers: store ≥ ${BAR_VS_RAW * 100} % of raw INSERT`, measured: pct(vsRaw), pass: vsRaw >= BAR_VS_RAW },
          { bar: `${workload.name}, ${writers} writers: store ≥ ${BAR_VS_EMMETT}× emmett`, measured: times(vsPeer), pass: vsPeer >= BAR_VS_EMMETT },
        );
      }
    }
  }
  if (!options.writers.includes(BAR_WRITERS)) verdicts.push({ bar: `bars need a ${BAR_WRITERS}-writer run`, measured: 'not measured', pass: false });

  return {
    name: 'append',
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    parameters: { seconds: options.seconds, warmup_seconds: options.warmupSeconds, slices: options.slices, writers: options.writers, workloads: workloads.map((w) => w.name) },
    environment: { ...(await machineFacts()), postgres: db.server },
    tables: [{
      title: 'Appends (events/s and commits/s over the measured window; latency per commit)',
      headers: ['workload', 'writers', 'system', 'events/s', 'commits/s', 'p50 ms', 'p99 ms', 'errors', 'store/raw', 'store/emmett'],
      rows,
    }],
    verdicts,
    notes: [
      'single = one event per commit; batch10 = ten events per commit to one stream.',
      'new-stream = every commit creates a stream (expected no-stream); long-stream = each writer appends to its own stream with the exact expected version.',
      `each system gets ${options.seconds} s measured per cell, in ${options.slices} slices taken in turns with the other systems (${options.warmupSeconds} s warm-up in total, on fresh connections each slice).`,
      'raw INSERT = autocommit INSERT into a copy of the events table (same columns and indexes, sequence positions), no checks; batch10 = one 10-row INSERT.',
      `bars (DESIGN §7) are judged at ${BAR_WRITERS} writers on events/s.`,
    ],
    raw: measurements,
  };
}
