import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { emmett } from './append/emmett.js';
import { rawInsert } from './append/raw.js';
import { projectStore } from './append/store.js';
import { takeTurns } from './append/turns.js';
import { applicationName, selectWorkloads, type SystemUnderTest } from './append/workload.js';
import { canReadProcessCpu, machineTicks, processCpuMicros } from './lib/cpu.js';
import { createBenchDatabase, ignoreIdleError } from './lib/database.js';
import { machineFacts } from './lib/machine.js';
import { runSlice } from './lib/measure.js';
import type { BenchOptions, BenchReport } from './lib/report.js';
import type { Cell } from './lib/table.js';

const SYSTEMS: SystemUnderTest[] = [rawInsert, projectStore, emmett];

interface CpuSlice { commits: number; nodeMicros: number; backendMicros: number; idle: number; total: number }

/**
 * CPU per commit, client (this process) and PostgreSQL backends apart. On a machine shared with
 * other work, rates swing with the neighbours' load while CPU per commit barely moves, so this
 * is the number to watch when changing the append path. Needs PostgreSQL on this Linux host.
 */
export async function run(options: BenchOptions): Promise<BenchReport> {
  if (!canReadProcessCpu()) throw new Error('append-cpu reads /proc: run it on Linux, on the host PostgreSQL runs on');
  const startedAt = new Date();
  const workloads = selectWorkloads(options.only);
  const db = await createBenchDatabase();
  const admin = new pg.Client({ connectionString: db.url, application_name: 'tmi-bench-admin' });
  admin.on('error', ignoreIdleError);
  await admin.connect();
  const runTag = randomBytes(3).toString('hex');
  const rows: Cell[][] = [];
  const raw: unknown[] = [];
  try {
    for (const system of SYSTEMS) await system.setup(db.url);
    for (const workload of workloads) {
      for (const writers of options.writers) {
        const measure = async (system: SystemUnderTest, target: { op(w: number): Promise<number> }): Promise<CpuSlice> => {
          const op = (w: number) => target.op(w);
          // Warm-up first, so every writer's connection exists (and has prepared its statement) before we list backends.
          await runSlice({ writers, warmupMs: 0, measureMs: (options.warmupSeconds * 1000) / options.slices, op });
          const { rows: backends } = await admin.query<{ pid: number }>(
            'select pid from pg_stat_activity where datname = current_database() and application_name = $1', [applicationName(system)]);
          const pids = backends.map((b) => Number(b.pid));
          const b0 = processCpuMicros(pids);
          const c0 = process.cpuUsage();
          const m0 = machineTicks();
          const slice = await runSlice({ writers, warmupMs: 0, measureMs: (options.seconds * 1000) / options.slices, op });
          const c = process.cpuUsage(c0);
          const m1 = machineTicks();
          return {
            commits: slice.latencies.length,
            nodeMicros: c.user + c.system,
            backendMicros: processCpuMicros(pids) - b0,
            idle: m1.idle - m0.idle,
            total: m1.total - m0.total,
          };
        };
        const slices = await takeTurns({
          url: db.url, systems: SYSTEMS, workload, writers, slices: options.slices,
          cellTag: `${runTag}-${workload.batch}${workload.stream[0]}-${writers}`, measure,
        });
        SYSTEMS.forEach((system, i) => {
          const s = slices[i]!;
          const sum = (f: (x: CpuSlice) => number) => s.reduce((n, x) => n + f(x), 0);
          const commits = sum((x) => x.commits);
          const node = sum((x) => x.nodeMicros) / commits;
          const backend = sum((x) => x.backendMicros) / commits;
          const idle = (100 * sum((x) => x.idle)) / sum((x) => x.total);
          rows.push([workload.name, writers, system.name, Math.round(commits / options.seconds), Math.round(node), Math.round(backend), Math.round(node + backend), `${Math.round(idle)} %`]);
          raw.push({ workload: workload.name, writers, system: system.name, slices: s });
          options.log(`${workload.name.padEnd(20)} ${String(writers).padStart(2)} writers  ${system.name.padEnd(10)} ${Math.round(node + backend)} µs CPU/commit`);
        });
      }
    }
  } finally {
    await admin.end().catch(() => {});
    await db.drop();
  }
  return {
    name: 'append-cpu',
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    parameters: { seconds: options.seconds, warmup_seconds: options.warmupSeconds, slices: options.slices, writers: options.writers, workloads: workloads.map((w) => w.name) },
    environment: { ...(await machineFacts()), postgres: db.server },
    tables: [{
      title: 'CPU per commit: this Node.js process and the PostgreSQL backends serving it (µs)',
      headers: ['workload', 'writers', 'system', 'commits/s', 'node µs', 'backend µs', 'total µs', 'machine idle'],
      rows,
    }],
    verdicts: [],
    notes: [
      'node µs = process.cpuUsage() of the benchmark process (all its threads) per commit; backend µs = utime+stime from /proc/<pid>/stat of the system\'s backends.',
      'WAL writer, checkpointer and other shared PostgreSQL processes are not counted; they serve all systems alike.',
      'when the machine is near 0 % idle, CPU per commit decides the commit rate at 8+ writers.',
    ],
    raw,
  };
}
