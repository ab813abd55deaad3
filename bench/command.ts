import pg from 'pg';
import { createBareTables } from './bare/schema.js';
import { CPU_HEADERS, addWindows, cpuCells, startCpuWindow, type BackendFilter, type CpuWindow } from './lib/cpu-window.js';
import { createBenchDatabase, ignoreIdleError } from './lib/database.js';
import { httpTarget, type Answer, type HttpTarget } from './lib/http.js';
import { loadAverage, machineFacts } from './lib/machine.js';
import { runSlice, summarize } from './lib/measure.js';
import { latenciesFromSchedule, runOpenLoop, sendLags, type OpenLoopResult } from './lib/open-loop.js';
import { selectNames, type BenchOptions, type BenchReport, type Verdict } from './lib/report.js';
import { logSummary } from './lib/processes.js';
import { loginWithDevProvider, startBare, startService } from './lib/service.js';
import { latencyStats, round } from './lib/stats.js';
import type { Cell } from './lib/table.js';
import { inTurns } from './lib/turns.js';

// DESIGN §7: command round trip (HTTP create, read-your-writes on) p99 ≤ 25 ms at 300 req/s; ≥ 1,500 commands/s with respond-async.
const BAR_RATE = 300;
const BAR_P99_MS = 25;
const BAR_ASYNC_PER_S = 1500;
const DEFAULT_CONNECTIONS = [8, 32, 64];
// Enough that the open loop never waits for a connection at the rates measured (300 req/s × a 2 s read-your-writes timeout fits).
const OPEN_LOOP_CONNECTIONS = 1024;
const PARTS = ['ryw', 'async'] as const;

/** A system under load: the service or the bare server, its processes and the backends serving it. */
interface System {
  name: string;
  url: string;
  pids: number[];
  backends: BackendFilter;
  headers: Record<string, string>;
}

const body = (n: number) => JSON.stringify({
  name: `Bench threat model ${n}`,
  description: 'Created by bench/command to measure the command round trip.',
  threat_model_framework: 'STRIDE',
});

function createRequest(system: System, async: boolean) {
  let n = 0;
  const headers = { ...system.headers, 'content-type': 'application/json', ...(async ? { prefer: 'respond-async' } : {}) };
  return (target: HttpTarget) => target.send({ method: 'POST', path: '/threat_models', headers, body: body(n++) });
}

interface OpenLoopSlice { result: OpenLoopResult<Answer>; cpu: CpuWindow }
interface ClosedLoopSlice { slice: Awaited<ReturnType<typeof runSlice>>; cpu: CpuWindow; settled: number }

export async function run(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date();
  const parts = selectNames(options.only, PARTS);
  const rates = options.rates ?? [BAR_RATE];
  const connections = options.connections ?? DEFAULT_CONNECTIONS;
  const warmupMs = (options.warmupSeconds * 1000) / options.slices;
  const measureMs = (options.seconds * 1000) / options.slices;
  const loadBefore = loadAverage();
  const db = await createBenchDatabase();
  await createBareTables(db.url);
  const admin = new pg.Client({ connectionString: db.url, application_name: 'tmi-bench-admin' });
  admin.on('error', ignoreIdleError);
  await admin.connect();
  options.log(`database ${db.name}; starting the service (serve, projections ${options.topology === 'inline' ? 'inside' : 'in a separate worker'}, BullMQ on Redis) and the bare server`);
  const service = await startService({ databaseUrl: db.url, queue: 'redis', topology: options.topology, logLevel: options.logLevel }).catch(async (err) => {
    await admin.end();
    await db.drop();
    throw err;
  });
  const rows: { ryw: Cell[][]; async: Cell[][] } = { ryw: [], async: [] };
  const verdicts: Verdict[] = [];
  const raw: Record<string, unknown> = {};
  let bare;
  try {
    bare = await startBare({ databaseUrl: db.url, logLevel: options.logLevel });
    const token = await loginWithDevProvider(service.url, 'bench-writer');
    const systems: System[] = [
      { name: 'service', url: service.url, pids: service.processes.map((p) => p.pid), backends: { database: db.name, applicationName: null }, headers: { authorization: `Bearer ${token}` } },
      { name: 'bare Fastify + INSERT', url: bare.url, pids: [bare.process.pid], backends: { database: db.name, applicationName: 'tmi-bench-bare' }, headers: {} },
    ];
    // Check what each system answers before timing anything.
    for (const system of systems) {
      const target = httpTarget(system.url, 1);
      const answer = await createRequest(system, false)(target);
      await target.close();
      if (answer.status !== 201) throw new Error(`${system.name} answered POST /threat_models with ${answer.status}`);
    }

    for (const rate of parts.includes('ryw') ? rates : []) {
      options.log(`read-your-writes: ${rate} req/s open loop, ${options.slices} slices per system`);
      const slices = await inTurns(systems, options.slices, async (system): Promise<OpenLoopSlice> => {
        const target = httpTarget(system.url, OPEN_LOOP_CONNECTIONS);
        const send = createRequest(system, false);
        try {
          await runOpenLoop({ rate, warmupMs: 0, measureMs: warmupMs, send: () => send(target) });
          const finish = await startCpuWindow(admin, system.pids, system.backends);
          const result = await runOpenLoop({ rate, warmupMs: 0, measureMs, send: () => send(target) });
          const cpu = await finish();
          const s = latencyStats(latenciesFromSchedule(result.samples));
          options.log(`  ${system.name.padEnd(22)} p50 ${round(s.p50_ms, 1)} ms  p99 ${round(s.p99_ms, 1)} ms  max ${round(s.max_ms, 1)} ms`);
          return { result, cpu };
        } finally {
          await target.close();
        }
      });
      systems.forEach((system, i) => {
        const samples = slices[i]!.flatMap((s) => s.result.samples);
        const stats = latencyStats(latenciesFromSchedule(samples));
        const lag = latencyStats(sendLags(samples));
        const count = (status: number) => samples.filter((s) => s.result?.status === status).length;
        const errors = samples.filter((s) => s.error !== null).length;
        const unfinished = slices[i]!.reduce((n, s) => n + s.result.unfinished, 0);
        const other = samples.length - count(201) - count(202) - errors - unfinished;
        const cpu = addWindows(slices[i]!.map((s) => s.cpu));
        const donePerS = slices[i]!.reduce((n, s) => n + s.result.completed_per_s, 0) / slices[i]!.length;
        const done = samples.filter((s) => s.result !== null).length;
        const bytes = samples.reduce((n, s) => n + (s.result?.bytes ?? 0), 0) / Math.max(1, done);
        rows.ryw.push([system.name, rate, round(donePerS), round(stats.p50_ms, 1), round(stats.p99_ms, 1), round(stats.max_ms, 1),
          count(201), count(202), other, errors + unfinished, round(lag.p99_ms, 1), Math.round(bytes), ...cpuCells(cpu, samples.length)]);
        raw[`ryw/${rate}/${system.name}`] = slices[i]!.map((s) => ({ ...s, result: { ...s.result, samples: undefined, latencies_ms: latenciesFromSchedule(s.result.samples) } }));
        if (system.name === 'service' && rate === BAR_RATE) {
          const allCreated = count(201) === samples.length;
          verdicts.push({
            bar: `POST /threat_models, read-your-writes on, ${rate} req/s: p99 ≤ ${BAR_P99_MS} ms, every answer 201`,
            measured: `p99 ${round(stats.p99_ms, 1)} ms (max ${round(stats.max_ms, 1)} ms); ${count(201)} × 201, ${count(202)} × 202 (wait timed out), ${other + errors + unfinished} other`,
            pass: stats.p99_ms <= BAR_P99_MS && allCreated,
          });
        }
      });
    }

    if (parts.includes('async')) {
      const best = new Map<string, { perS: number; connections: number; p99: number }>();
      for (const n of connections) {
        options.log(`respond-async: closed loop, ${n} connections`);
        const slices = await inTurns(systems, options.slices, async (system): Promise<ClosedLoopSlice> => {
          const target = httpTarget(system.url, n);
          const send = createRequest(system, true);
          let settled = 0;
          const op = async () => {
            const answer = await send(target);
            settled++;
            if (answer.status !== 202) throw new Error(`answered ${answer.status}`);
            return 1;
          };
          try {
            await runSlice({ writers: n, warmupMs: 0, measureMs: warmupMs, op });
            settled = 0;
            const finish = await startCpuWindow(admin, system.pids, system.backends);
            const slice = await runSlice({ writers: n, warmupMs: 0, measureMs, op });
            const cpu = await finish();
            return { slice, cpu, settled };
          } finally {
            await target.close();
          }
        });
        systems.forEach((system, i) => {
          const result = summarize(slices[i]!.map((s) => s.slice));
          const cpu = addWindows(slices[i]!.map((s) => s.cpu));
          const settled = slices[i]!.reduce((s, x) => s + x.settled, 0);
          rows.async.push([system.name, n, round(result.commits_per_s), round(result.p50_ms, 1), round(result.p99_ms, 1), result.errors,
            result.slice_events_per_s.join(' '), ...cpuCells(cpu, settled)]);
          raw[`async/${n}/${system.name}`] = { ...result, cpu: slices[i]!.map((s) => s.cpu) };
          options.log(`  ${system.name.padEnd(22)} ${round(result.commits_per_s)} commands/s  p99 ${round(result.p99_ms, 1)} ms`);
          const prev = best.get(system.name);
          if (result.errors === 0 && (!prev || result.commits_per_s > prev.perS)) best.set(system.name, { perS: result.commits_per_s, connections: n, p99: result.p99_ms });
        });
      }
      const ours = best.get('service');
      const limit = best.get(systems[1]!.name);
      verdicts.push({
        bar: `POST /threat_models with Prefer: respond-async: ≥ ${BAR_ASYNC_PER_S} commands/s`,
        measured: ours
          ? `${round(ours.perS)} commands/s at ${ours.connections} connections (p99 ${round(ours.p99, 1)} ms); bare limit ${limit ? `${round(limit.perS)}/s` : 'n/a'}`
          : 'no error-free cell',
        pass: ours !== undefined && ours.perS >= BAR_ASYNC_PER_S,
      });
    }
  } finally {
    await bare?.stop();
    await service.stop();
    await admin.end().catch(() => {});
    await db.drop();
  }
  const loadAfter = loadAverage();
  const logs = logSummary([...service.processes, ...(bare ? [bare.process] : [])]);
  const tables = [];
  if (parts.includes('ryw')) {
    if (!rates.includes(BAR_RATE)) verdicts.unshift({ bar: `read-your-writes: the bar needs a ${BAR_RATE} req/s run`, measured: `rates ${rates.join(', ')}`, pass: false });
    tables.push({
      title: 'POST /threat_models, read-your-writes on: open loop at a fixed rate, latency from each request\'s scheduled start (ms)',
      headers: ['system', 'offered/s', 'done/s', 'p50', 'p99', 'max', '201', '202', 'other', 'errors', 'send lag p99', 'bytes', ...CPU_HEADERS],
      rows: rows.ryw,
    });
  }
  if (parts.includes('async')) {
    tables.push({
      title: 'POST /threat_models with Prefer: respond-async: closed loop, N connections each sending its next request on the answer (ms)',
      headers: ['system', 'connections', 'commands/s', 'p50', 'p99', 'errors', 'per slice', ...CPU_HEADERS],
      rows: rows.async,
    });
  }
  return {
    name: 'command',
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    parameters: { seconds: options.seconds, warmup_seconds: options.warmupSeconds, slices: options.slices, rates, connections, parts, log_level: options.logLevel },
    environment: { ...(await machineFacts()), postgres: db.server, load_average_before: loadBefore, load_average_after: loadAfter },
    tables,
    verdicts,
    notes: [
      'service = `node --import tsx src/cli/main.ts serve` in its own process on a fresh migrated database: projections inside, BullMQ on Redis, rate limit off, otherwise the default configuration; the bench user signs in through the dev provider.',
      'bare = bench/bare/server.ts in its own process: same Fastify, JSON parser and pino logger at the same level, one INSERT of a ThreatModelCreated-shaped row into a copy of `events`; no auth, validation or projections.',
      `open loop (read-your-writes at ${rates.join(', ')} req/s): request i is sent at start + i/rate on up to ${OPEN_LOOP_CONNECTIONS} keep-alive connections; latency counts from the scheduled start, so a slow answer or a late generator is never hidden. send lag = how late the generator sent (its own saturation).`,
      '202 under read-your-writes = the projections had not reached the event within server.read_your_writes_timeout_ms (2 s): the wait timed out.',
      `each system gets ${options.seconds} s measured per cell in ${options.slices} slices taken in turns (${options.warmupSeconds} s warm-up in total, on fresh connections each slice).`,
      'CPU per request: gen = this process (load generator), server = the server processes (/proc/<pid>/stat), pg = the PostgreSQL backends serving them; Redis, the WAL writer and the checkpointer are not counted. idle = the machine\'s idle share during the slices.',
      `load average before ${loadBefore}, after ${loadAfter} (2 CPUs).`,
      logs,
    ],
    raw,
  };
}
