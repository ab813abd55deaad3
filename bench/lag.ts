import pg from 'pg';
import { THREAT_MODEL_PROJECTIONS } from '../src/application/threat-models.js';
import { PROGRESS_CHANNEL } from '../src/projections/runner.js';
import { BARE_PROGRESS_CHANNEL, createBareTables } from './bare/schema.js';
import { HorizonWatch, ProgressWatch } from './lag/progress.js';
import { CPU_HEADERS, addWindows, cpuCells, startCpuWindow, type BackendFilter, type CpuWindow } from './lib/cpu-window.js';
import { createBenchDatabase, ignoreIdleError, type BenchDatabase } from './lib/database.js';
import { httpTarget, type Answer } from './lib/http.js';
import { loadAverage, machineFacts } from './lib/machine.js';
import { latenciesFromSchedule, runOpenLoop, sendLags, type OpenLoopSample } from './lib/open-loop.js';
import { selectNames, type BenchOptions, type BenchReport, type Verdict } from './lib/report.js';
import { logSummary } from './lib/processes.js';
import { loginWithDevProvider, startBare, startService, type QueueKind } from './lib/service.js';
import { latencyStats, round } from './lib/stats.js';
import type { Cell } from './lib/table.js';
import { inTurns } from './lib/turns.js';

// DESIGN §7: projection lag p99 ≤ 50 ms from commit to visible at 500 events/s.
const BAR_RATE = 500;
const BAR_P99_MS = 50;
const DEFAULT_RATES = [500, 100];
const COMBOS = ['inline/redis', 'worker/redis', 'inline/postgres', 'worker/postgres'] as const;
const OPEN_LOOP_CONNECTIONS = 256;
// After the load stops, how long the projections get to reach the head before the rest counts as never visible.
const DRAIN_TIMEOUT_MS = 120_000;

interface System {
  name: string;
  url: string;
  pids: number[];
  backends: BackendFilter;
  headers: Record<string, string>;
  watch: ProgressWatch;
  /** The checkpoints that must pass a command's position before it counts as visible. */
  checkpoints: readonly string[];
  /** For positions drawn from transaction ids (the service's): the cluster-wide horizon projectors wait for. */
  horizon: HorizonWatch | null;
}

interface LagSlice {
  samples: OpenLoopSample<Answer>[];
  measureMs: number;
  /** Answers per second over the slice including its tail: below the offered rate when the service cannot keep up. */
  completed_per_s: number;
  /** Per answered command: ms from its 202 to visible in every checkpoint (Infinity: never, within the drain timeout). */
  lags: number[];
  /** Per answered command: ms from its 202 until the cluster-wide horizon passed it (empty without a horizon). */
  horizon_waits: number[];
  /** Per answered command: ms of its lag during which a transaction of another database held the horizon. */
  foreign_holds: number[];
  /** Commands already visible when their 202 arrived (lag counted as 0). */
  before_answer: number;
  /** From the last answer of the slice to all checkpoints at the slice's highest position. */
  drain_ms: number;
  /** The same for each checkpoint on its own, to tell which one held the others back. */
  drain_by_checkpoint: Record<string, number>;
  cpu: CpuWindow;
}

async function lagSlice(system: System, rate: number, warmupMs: number, measureMs: number): Promise<LagSlice> {
  const target = httpTarget(system.url, OPEN_LOOP_CONNECTIONS);
  let n = 0;
  const headers = { ...system.headers, 'content-type': 'application/json', prefer: 'respond-async' };
  const send = () => target.send({
    method: 'POST', path: '/threat_models', headers,
    body: JSON.stringify({ name: `Lag bench ${n++}`, description: 'Created by bench/lag.', threat_model_framework: 'STRIDE' }),
  });
  try {
    const warm = await runOpenLoop({ rate, warmupMs: 0, measureMs: warmupMs, send });
    const finish = await startCpuWindow(admins.get(system.backends.database)!, system.pids, system.backends);
    const result = await runOpenLoop({ rate, warmupMs: 0, measureMs, send });
    const answered = result.samples.filter((s) => s.result?.status === 202 && s.result.position !== null);
    const head = Math.max(0, ...[...warm.samples, ...result.samples].map((s) => s.result?.position ?? 0));
    const lastAnswer = Math.max(...result.samples.map((s) => (Number.isNaN(s.done) ? -Infinity : s.done)));
    const visible = await system.watch.waitVisible(system.checkpoints, head, DRAIN_TIMEOUT_MS);
    const cpu = await finish();
    let beforeAnswer = 0;
    const lags = answered.map((s) => {
      const at = system.watch.visibleAt(system.checkpoints, s.result!.position!);
      if (Number.isNaN(at)) return Infinity;
      if (at <= s.done) beforeAnswer++;
      return Math.max(0, at - s.done);
    });
    const horizon = system.horizon;
    const horizonWaits = horizon ? answered.map((s) => {
      const at = horizon.passedAt(s.result!.position!);
      return Number.isNaN(at) ? Infinity : Math.max(0, at - s.done);
    }) : [];
    const foreignHolds = horizon ? answered.map((s, i) => {
      const end = Number.isFinite(lags[i]!) ? s.done + lags[i]! : performance.now();
      return horizon.foreignBetween(s.done, end);
    }) : [];
    const drained = (at: number) => (Number.isNaN(at) ? Infinity : Math.max(0, at - lastAnswer));
    const byCheckpoint = Object.fromEntries(system.checkpoints.map((name) => [name, Math.round(drained(system.watch.visibleAt([name], head)))]));
    return {
      samples: result.samples, measureMs, completed_per_s: result.completed_per_s, lags, horizon_waits: horizonWaits, foreign_holds: foreignHolds, before_answer: beforeAnswer,
      drain_ms: drained(visible), drain_by_checkpoint: byCheckpoint, cpu,
    };
  } finally {
    await target.close();
  }
}

// One admin connection per database, to list the backends whose CPU is counted.
const admins = new Map<string, pg.Client>();
async function adminFor(db: BenchDatabase): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: db.url, application_name: 'tmi-bench-admin' });
  client.on('error', ignoreIdleError);
  await client.connect();
  admins.set(db.name, client);
  return client;
}

export async function run(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date();
  const combos = selectNames(options.only, COMBOS);
  const rates = options.rates ?? DEFAULT_RATES;
  const warmupMs = (options.warmupSeconds * 1000) / options.slices;
  const measureMs = (options.seconds * 1000) / options.slices;
  const loadBefore = loadAverage();
  const rows: Cell[][] = [];
  const verdicts: Verdict[] = [];
  const raw: unknown[] = [];
  const logs: string[] = [];

  // The bare server and its one-table projector run for the whole bench on a database of their own.
  const bareDb = await createBenchDatabase();
  let bare;
  let bareWatch: ProgressWatch | null = null;
  try {
    await createBareTables(bareDb.url);
    await adminFor(bareDb);
    bare = await startBare({ databaseUrl: bareDb.url, logLevel: options.logLevel, projector: true });
    bareWatch = await ProgressWatch.open(bareDb.url, BARE_PROGRESS_CHANNEL, { table: 'bare_checkpoint', names: ['bare'] });
    const bareSystem: System = {
      name: 'bare Fastify + INSERT + projector', url: bare.url, pids: [bare.process.pid],
      backends: { database: bareDb.name, applicationName: 'tmi-bench-bare' }, headers: {}, watch: bareWatch, checkpoints: ['bare'], horizon: null,
    };

    for (const combo of combos) {
      const [topology, queue] = combo.split('/') as ['inline' | 'worker', QueueKind];
      const db = await createBenchDatabase();
      let service;
      let watch: ProgressWatch | null = null;
      let horizon: HorizonWatch | null = null;
      try {
        await adminFor(db);
        options.log(`${combo}: database ${db.name}; starting ${topology === 'inline' ? 'serve (projections inside)' : 'serve (TMI_RUN_PROJECTIONS=false) + worker'}, BullMQ on ${queue === 'redis' ? 'Redis' : 'PostgreSQL'}`);
        service = await startService({ databaseUrl: db.url, queue, topology, logLevel: options.logLevel });
        const token = await loginWithDevProvider(service.url, 'bench-writer');
        watch = await ProgressWatch.open(db.url, PROGRESS_CHANNEL, { table: 'projection_checkpoints', names: THREAT_MODEL_PROJECTIONS });
        horizon = await HorizonWatch.open(db.url, db.name);
        const serviceSystem: System = {
          name: 'service', url: service.url, pids: service.processes.map((p) => p.pid),
          backends: { database: db.name, applicationName: null }, headers: { authorization: `Bearer ${token}` },
          watch, checkpoints: THREAT_MODEL_PROJECTIONS, horizon,
        };
        const systems = [serviceSystem, bareSystem];
        for (const rate of rates) {
          const slices = await inTurns(systems, options.slices, async (system) => {
            const slice = await lagSlice(system, rate, warmupMs, measureMs);
            const s = latencyStats(slice.lags);
            const each = Object.entries(slice.drain_by_checkpoint).map(([name, ms]) => `${name} ${ms}`).join(', ');
            const h = system.horizon ? `  horizon p99 ${round(latencyStats(slice.horizon_waits).p99_ms, 1)} ms  foreign p99 ${round(latencyStats(slice.foreign_holds).p99_ms, 1)} ms` : '';
            options.log(`  ${String(rate).padStart(4)}/s  ${system.name.padEnd(34)} lag p50 ${round(s.p50_ms, 1)} ms  p99 ${round(s.p99_ms, 1)} ms${h}  drain ${round(slice.drain_ms)} ms (${each})`);
            return slice;
          });
          systems.forEach((system, i) => {
            const mine = slices[i]!;
            const samples = mine.flatMap((s) => s.samples);
            const lag = latencyStats(mine.flatMap((s) => s.lags));
            const horizonWait = system.horizon ? round(latencyStats(mine.flatMap((s) => s.horizon_waits)).p99_ms, 1) : null;
            const foreignHold = system.horizon ? round(latencyStats(mine.flatMap((s) => s.foreign_holds)).p99_ms, 1) : null;
            const answer = latencyStats(latenciesFromSchedule(samples));
            const sendLag = latencyStats(sendLags(samples));
            const answeredPerS = mine.reduce((n, s) => n + s.completed_per_s, 0) / mine.length;
            const accepted = samples.filter((s) => s.result?.status === 202).length;
            const never = mine.reduce((n, s) => n + s.lags.filter((l) => l === Infinity).length, 0);
            const drain = Math.max(...mine.map((s) => s.drain_ms));
            rows.push([topology, queue, system.name, rate, round(answeredPerS), round(lag.p50_ms, 1), round(lag.p99_ms, 1), round(lag.max_ms, 1),
              horizonWait, foreignHold, never, round(drain), round(answer.p99_ms, 1), samples.length - accepted, round(sendLag.p99_ms, 1), ...cpuCells(addWindows(mine.map((s) => s.cpu)), samples.length)]);
            raw.push({ combo, system: system.name, rate, slices: mine.map((s) => ({ ...s, samples: undefined, answer_ms: latenciesFromSchedule(s.samples) })) });
            if (system === serviceSystem && rate === BAR_RATE) {
              verdicts.push({
                bar: `projection lag, ${combo}, ${rate} events/s: p99 ≤ ${BAR_P99_MS} ms from the 202 to visible in ${THREAT_MODEL_PROJECTIONS.join(', ')}`,
                measured: `p99 ${round(lag.p99_ms, 1)} ms (p50 ${round(lag.p50_ms, 1)}, max ${round(lag.max_ms, 1)}); ${accepted} accepted, ${samples.length - accepted} not 202; drain ${round(drain)} ms`,
                pass: lag.p99_ms <= BAR_P99_MS && accepted === samples.length,
              });
            }
          });
        }
      } finally {
        await watch?.close();
        await horizon?.close();
        await service?.stop();
        if (service) logs.push(`${combo}: ${logSummary(service.processes)}`);
        await admins.get(db.name)?.end().catch(() => {});
        admins.delete(db.name);
        await db.drop();
      }
    }
  } finally {
    await bareWatch?.close();
    await bare?.stop();
    if (bare) logs.push(logSummary([bare.process]));
    await admins.get(bareDb.name)?.end().catch(() => {});
    admins.delete(bareDb.name);
    await bareDb.drop();
  }
  if (!rates.includes(BAR_RATE)) verdicts.push({ bar: `the bar needs a ${BAR_RATE} events/s run`, measured: 'not measured', pass: false });
  const loadAfter = loadAverage();
  return {
    name: 'lag',
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    parameters: { seconds: options.seconds, warmup_seconds: options.warmupSeconds, slices: options.slices, rates, combos, log_level: options.logLevel },
    environment: { ...(await machineFacts()), load_average_before: loadBefore, load_average_after: loadAfter },
    tables: [{
      title: 'Projection lag: POST /threat_models with Prefer: respond-async at a fixed rate (one event each); lag = from the 202 to every checkpoint past the event (ms)',
      headers: ['projections', 'queue', 'system', 'offered/s', 'answered/s', 'lag p50', 'lag p99', 'lag max', 'horizon p99', 'foreign p99', 'never', 'drain', '202 p99', 'not 202', 'send lag p99', ...CPU_HEADERS],
      rows,
    }],
    verdicts,
    notes: [
      `service checkpoints: ${THREAT_MODEL_PROJECTIONS.join(', ')} (THREAT_MODEL_PROJECTIONS); observed from outside by LISTENing on ${PROGRESS_CHANNEL}, whose NOTIFY is sent in each checkpoint transaction and delivered at its commit.`,
      'projections inline = `serve` runs them; worker = `serve` with TMI_RUN_PROJECTIONS=false and a separate `worker` process (CPU of both counted). queue redis = REDIS_URL set; postgres = no REDIS_URL, BullMQ on its PostgreSQL backend.',
      'bare = bench/bare/server.ts: one INSERT per request, then an in-process one-table projector woken directly (no queue, no advisory lock, no gap-safe horizon) that NOTIFYs bare_progress at commit: the least a projection round trip can cost here.',
      'horizon p99 = p99 of the wait from a command\'s 202 until the safe horizon (SAFE_HORIZON_SQL, polled every 5 ms) passed its position: projectors cannot read an event before that, so this much of the lag is spent waiting for older transactions that might still append to end: the service\'s own appends, and anything else in its database that holds a write transaction open. foreign p99 = p99 of the part of each command\'s lag during which the oldest running transaction belonged to another database: that part is not the service\'s.',
      `open loop: requests at start + i/rate; a command's lag starts when its 202 arrived (after its commit). never = not visible ${DRAIN_TIMEOUT_MS / 1000} s after the load stopped (counted as infinite lag). drain = from the slice's last 202 to every checkpoint at the slice's highest position.`,
      `each system gets ${options.seconds} s per rate in ${options.slices} slices taken in turns with the bare server; the next slice starts only after the previous one drained. CPU per command includes the drain.`,
      `load average before ${loadBefore}, after ${loadAfter} (2 CPUs).`,
      ...logs,
    ],
    raw,
  };
}
