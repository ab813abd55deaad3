import pg from 'pg';
import { threatInput } from './queries/children-seed.js';
import { CPU_HEADERS, addWindows, cpuCells, startCpuWindow, type CpuWindow } from './lib/cpu-window.js';
import { processCpuMicros } from './lib/cpu.js';
import { createBenchDatabase, ignoreIdleError } from './lib/database.js';
import { httpTarget } from './lib/http.js';
import { loadAverage, machineFacts } from './lib/machine.js';
import { runMixedLoop, type MixedLoopResult, type MixOperation, type MixRequest, type MixSample } from './lib/mixed-loop.js';
import { logSummary } from './lib/processes.js';
import type { BenchOptions, BenchReport } from './lib/report.js';
import { loginWithDevProvider, startService } from './lib/service.js';
import { latencyStats, round } from './lib/stats.js';
import type { Cell } from './lib/table.js';
import { inTurns } from './lib/turns.js';

const DEFAULT_CONNECTIONS = [32];
/** Threat models of the bench user: the list reads page through them, the creates spread over them. */
const MODELS = 32;
/** Every checkpoint a threat's create moves; a slice ends only when the worker has caught up on all of them. */
const DRAINED_CHECKPOINTS = ['threats', 'threat_models', 'threat_dashboard', 'audit_trail'];
const DRAIN_TIMEOUT_MS = 60_000;

const json = { 'content-type': 'application/json' };
const RYW_CREATE = 'POST threat, read-your-writes';
const createThreat = (model: string, n: number, prefer: Record<string, string>): MixRequest => ({
  method: 'POST', path: `/threat_models/${model}/threats`, headers: { ...json, ...prefer }, body: JSON.stringify(threatInput(n)),
});

/**
 * What a TMI client does most: reads lists, and writes a threat now and then, waiting for it
 * (read-your-writes, the default) or not (`Prefer: respond-async`). Every client walks this
 * cycle from its own offset, so the whole mix is in flight at once: 1/3 writes, 2/3 reads.
 * Request n goes to model n mod models.length.
 */
function mixOver(models: string[]): MixOperation[] {
  const model = (n: number) => models[n % models.length]!;
  const listModels: MixOperation = { name: 'GET /threat_models?limit=20', expect: 200, build: () => ({ method: 'GET', path: '/threat_models?limit=20' }) };
  const listThreats: MixOperation = { name: 'GET …/threats?limit=20', expect: 200, build: (n) => ({ method: 'GET', path: `/threat_models/${model(n)}/threats?limit=20` }) };
  return [
    { name: RYW_CREATE, expect: 201, build: (n) => createThreat(model(n), n, {}) },
    listModels,
    { name: 'POST threat, respond-async', expect: 202, build: (n) => createThreat(model(n), n, { prefer: 'respond-async' }) },
    listThreats,
    listModels,
    listThreats,
  ];
}

/** The API instances a system sends to, one after another per request (client-side round robin). */
interface System { name: string; instances: number; urls: string[] }

interface MixSlice extends MixedLoopResult {
  measureMs: number;
  cpu: CpuWindow;
  /** CPU of each service process during the window, in cores (CPU seconds per second). */
  cores: number[];
  drainMs: number;
}

/** Waits until every checkpoint in DRAINED_CHECKPOINTS has passed `head`; ms it took, or Infinity after the timeout. */
async function drain(admin: pg.Client, head: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const { rows } = await admin.query<{ behind: string }>(
      'select count(*) as behind from projection_checkpoints where name = any($1) and position < $2', [DRAINED_CHECKPOINTS, head]);
    if (Number(rows[0]!.behind) === 0) return performance.now() - t0;
    if (performance.now() - t0 > DRAIN_TIMEOUT_MS) return Infinity;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const isSuccess = (s: MixSample): boolean => s.status >= 200 && s.status < 300;
const statusCounts = (samples: MixSample[]): string => {
  const counts = new Map<number, number>();
  for (const s of samples) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([status, n]) => `${status === 0 ? 'no answer' : status} × ${n}`).join(', ');
};

export async function run(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date();
  const connections = options.connections ?? DEFAULT_CONNECTIONS;
  const warmupMs = (options.warmupSeconds * 1000) / options.slices;
  const measureMs = (options.seconds * 1000) / options.slices;
  const facts = await machineFacts();
  const loadBefore = loadAverage();
  const db = await createBenchDatabase();
  const admin = new pg.Client({ connectionString: db.url, application_name: 'tmi-bench-admin' });
  admin.on('error', ignoreIdleError);
  await admin.connect();
  options.log(`database ${db.name}; starting two API instances (serve, TMI_RUN_PROJECTIONS=false) and one worker, BullMQ on Redis`);
  const service = await startService({ databaseUrl: db.url, queue: 'redis', topology: 'worker', logLevel: options.logLevel, apiInstances: 2 }).catch(async (err) => {
    await admin.end();
    await db.drop();
    throw err;
  });
  const pids = service.processes.map((p) => p.pid);
  const systems: System[] = [
    { name: '1 API instance', instances: 1, urls: service.urls.slice(0, 1) },
    { name: '2 API instances', instances: 2, urls: service.urls },
  ];
  const results = new Map<string, MixSlice[]>();
  const operationNames: string[] = [];
  const cycleNames: string[] = [];
  try {
    const token = await loginWithDevProvider(service.url, 'bench-scaling');
    const headers = { authorization: `Bearer ${token}` };
    const setup = httpTarget(service.url, 1);
    const models: string[] = [];
    try {
      for (let i = 0; i < MODELS; i++) {
        const res = await setup.send({ method: 'POST', path: '/threat_models', headers: { ...headers, ...json }, body: JSON.stringify({ name: `Scaling bench model ${i}`, threat_model_framework: 'STRIDE' }) });
        if (res.status !== 201 || res.location === null) throw new Error(`POST /threat_models answered ${res.status}`);
        models.push(res.location.split('/').pop()!);
      }
    } finally {
      await setup.close();
    }
    const cycle = mixOver(models);
    operationNames.push(...new Set(cycle.map((o) => o.name)));
    cycleNames.push(...cycle.map((o) => o.name));
    // Every operation on every instance answers what it should before anything is timed.
    for (const url of service.urls) {
      const target = httpTarget(url, 1);
      try {
        for (const [i, op] of cycle.entries()) {
          const request = op.build(i);
          const answer = await target.send({ ...request, headers: { ...headers, ...request.headers } });
          if (answer.status !== op.expect) throw new Error(`${url}: ${op.name} answered ${answer.status}, expected ${op.expect}`);
        }
      } finally {
        await target.close();
      }
    }

    for (const n of connections) {
      options.log(`mix: closed loop, ${n} connections in all, ${options.slices} slices per system`);
      const slices = await inTurns(systems, options.slices, async (system): Promise<MixSlice> => {
        // Each instance's pool may open as many connections as there are clients, so no request
        // waits in the client for a connection; in flight there are always `n` in all.
        const targets = system.urls.map((url) => httpTarget(url, n));
        try {
          const loop = (ms: number) => runMixedLoop({ targets, clients: n, cycle, ms, headers });
          const warm = await loop(warmupMs);
          await drain(admin, warm.head);
          const finish = await startCpuWindow(admin, pids, { database: db.name, applicationName: null });
          const cpu0 = pids.map((pid) => processCpuMicros([pid]));
          const t0 = performance.now();
          const measured = await loop(measureMs);
          const wallUs = (performance.now() - t0) * 1000;
          const cores = pids.map((pid, i) => (processCpuMicros([pid]) - cpu0[i]!) / wallUs);
          const cpu = await finish();
          const drainMs = await drain(admin, measured.head);
          const good = measured.samples.filter(isSuccess).length;
          options.log(`  ${system.name.padEnd(16)} ${round(good / (measureMs / 1000))} req/s, ${measured.samples.length - good} not 2xx, drain ${round(drainMs)} ms`);
          return { ...measured, measureMs, cpu, cores, drainMs };
        } finally {
          await Promise.all(targets.map((t) => t.close()));
        }
      });
      systems.forEach((system, i) => results.set(`${n}/${system.name}`, slices[i]!));
    }
  } finally {
    await service.stop();
    await admin.end().catch(() => {});
    await db.drop();
  }
  const loadAfter = loadAverage();

  const throughput: Cell[][] = [];
  const cpuRows: Cell[][] = [];
  const byOperation: Cell[][] = [];
  const ratios: Cell[][] = [];
  const perS = new Map<string, number>();
  const clean = new Map<string, boolean>();
  const idle = new Map<string, string>();
  const cpus = Number(facts.cpus);
  const firstErrors: string[] = [];
  for (const n of connections) {
    for (const system of systems) {
      const slices = results.get(`${n}/${system.name}`)!;
      const samples = slices.flatMap((s) => s.samples);
      const seconds = slices.reduce((t, s) => t + s.measureMs, 0) / 1000;
      const stats = latencyStats(samples.map((s) => s.ms));
      const notAnswered = samples.filter((s) => s.status === 0).length;
      const non2xx = samples.filter((s) => s.status !== 0 && !isSuccess(s)).length;
      // A 202 to a read-your-writes create is a 2xx, but it means the wait for the worker timed out.
      const rywTimeouts = samples.filter((s) => s.op === RYW_CREATE && s.status === 202).length;
      const drainMs = Math.max(...slices.map((s) => s.drainMs));
      const rate = samples.filter(isSuccess).length / seconds;
      perS.set(`${n}/${system.name}`, rate);
      clean.set(`${n}/${system.name}`, notAnswered + non2xx === 0 && Number.isFinite(drainMs));
      const firstError = slices.find((s) => s.firstError)?.firstError;
      if (firstError) firstErrors.push(`${system.name}, ${n} connections: ${firstError}`);
      throughput.push([system.instances, n, round(rate), round(stats.p50_ms, 1), round(stats.p99_ms, 1), round(stats.max_ms, 1),
        non2xx, notAnswered, rywTimeouts, round(drainMs), slices.map((s) => Math.round(s.samples.filter(isSuccess).length / (s.measureMs / 1000))).join(' ')]);
      const cpu = addWindows(slices.map((s) => s.cpu));
      idle.set(`${n}/${system.name}`, `${Math.round(cpu.machine_idle * 100)} %`);
      const cores = pids.map((_, p) => slices.reduce((t, s) => t + s.cores[p]! * s.measureMs, 0) / (seconds * 1000));
      const pgCores = cpu.backend_us / (cpu.wall_ms * 1000);
      // Requests/s at which every CPU of the machine would be busy with this cell's CPU per request.
      const ceiling = (cpus * 1e6 * samples.length) / (cpu.generator_us + cpu.server_us + cpu.backend_us);
      cpuRows.push([system.instances, n, ...cpuCells(cpu, samples.length), ...cores.map((c) => round(c, 2)), round(pgCores, 2), round(ceiling)]);
      for (const name of operationNames) {
        const mine = samples.filter((s) => s.op === name);
        const s = latencyStats(mine.map((x) => x.ms));
        byOperation.push([system.instances, n, name, round(mine.filter(isSuccess).length / seconds), round(s.p50_ms, 1), round(s.p99_ms, 1), statusCounts(mine)]);
      }
    }
    const one = perS.get(`${n}/${systems[0]!.name}`)!;
    const two = perS.get(`${n}/${systems[1]!.name}`)!;
    const valid = clean.get(`${n}/${systems[0]!.name}`)! && clean.get(`${n}/${systems[1]!.name}`)!;
    ratios.push([n, round(one), round(two), one > 0 ? `${round(two / one, 2)}×` : 'n/a', valid ? 'yes' : 'no: errors or an undrained worker, see above',
      cpus, `${idle.get(`${n}/${systems[0]!.name}`)} / ${idle.get(`${n}/${systems[1]!.name}`)}`, loadBefore, loadAfter]);
  }
  const processNames = service.processes.map((p) => p.name);
  return {
    name: 'scaling',
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    parameters: { seconds: options.seconds, warmup_seconds: options.warmupSeconds, slices: options.slices, connections, models: MODELS, cycle: cycleNames, log_level: options.logLevel },
    environment: { ...facts, postgres: db.server, load_average_before: loadBefore, load_average_after: loadAfter },
    tables: [
      {
        title: 'Mixed load, closed loop: N connections in all, requests round robin over the API instances (ms); req/s counts 2xx answers',
        headers: ['instances', 'connections', 'req/s', 'p50', 'p99', 'max', 'non-2xx', 'no answer', 'ryw 202', 'drain ms', 'per slice'],
        rows: throughput,
      },
      {
        title: 'CPU: per request (µs), and per process in cores (CPU seconds per second) during the measured windows',
        headers: ['instances', 'connections', ...CPU_HEADERS, ...processNames.map((p) => `${p} cores`), 'pg cores', 'CPU ceiling req/s'],
        rows: cpuRows,
      },
      {
        title: 'Per operation (ms); req/s counts 2xx answers',
        headers: ['instances', 'connections', 'operation', 'req/s', 'p50', 'p99', 'answers'],
        rows: byOperation,
      },
      {
        title: 'Two API instances against one: ratio of 2xx requests per second, same worker, same connections',
        headers: ['connections', '1 instance req/s', '2 instances req/s', 'two/one', 'error-free', 'CPUs', 'idle 1 / 2', 'load avg before', 'load avg after'],
        rows: ratios,
      },
    ],
    verdicts: [],
    notes: [
      `service = ${processNames.length - 1} × \`node --import tsx src/cli/main.ts serve\` with TMI_RUN_PROJECTIONS=false (API only, each a process of its own on its own port, one public URL) and one \`worker\` process running every projection, all on one fresh migrated database and the machine's Redis (BullMQ, one prefix); rate limit off, otherwise the default configuration. The same processes serve both systems: "1 API instance" sends everything to the first, "2 API instances" sends request k of the run to instance k mod 2. The idle second instance's CPU is counted in the 1-instance rows too.`,
      `mix: every client walks the cycle ${cycleNames.join(' → ')} from its own offset over ${MODELS} threat models of the bench user (dev-provider login): 1/3 writes, 2/3 reads. Threat bodies as the queries bench seeds them (severities in turn, scores, metadata on every fifth).`,
      `closed loop: each of the N connections sends its next request when the answer arrives; only requests that start and end inside a slice's window count; ${options.seconds} s measured per system in ${options.slices} slices taken in turns (${options.warmupSeconds} s warm-up in total, on fresh connections each slice). Before a slice is timed and after it, the bench waits until the worker has projected everything answered so far (checkpoints ${DRAINED_CHECKPOINTS.join(', ')}); drain ms = that wait after the window (a worker that falls behind two instances shows here), CPU not counted.`,
      'errors are never dropped: non-2xx = answered with another status (counted, and not in req/s), no answer = a transport error; ryw 202 = a read-your-writes create whose wait for the worker timed out (2xx, counted in req/s, shown apart). A ratio whose rows have errors or an undrained worker is marked not error-free.',
      'CPU per request: gen = this process (load generator), server = every service process (both instances and the worker), pg = the PostgreSQL backends of the bench database; Redis, the WAL writer and the checkpointer are not counted. idle = the machine\'s idle share. `<process> cores` = that process\'s CPU seconds per second: an API instance near 1.0 is bound by its one Node.js thread, which a second instance relieves. CPU ceiling = CPUs × 1 s / (gen + server + pg CPU per request): the rate at which the whole machine would be busy with this mix alone, an upper bound (Redis and PostgreSQL\'s shared processes are not counted) that no number of instances passes.',
      `machine: ${cpus} CPUs (${String(facts.cpu_model)}), load average before ${loadBefore}, after ${loadAfter} (the machine's idle share per cell is in the ratio table). The load generator, both instances, the worker, PostgreSQL and Redis share these CPUs: when the machine is near 0 % idle with one instance, a second instance cannot add throughput and the ratio measures the machine, not the service${cpus <= 2 ? ` — on ${cpus} cores expect the ratio to be bounded by CPU, well under 2×` : ''}.`,
      ...firstErrors.map((e) => `first error: ${e}`),
      logSummary(service.processes),
    ],
    raw: Object.fromEntries([...results.entries()].map(([key, slices]) => [key, slices.map((s) => ({ ...s, samples: undefined, latencies_ms: s.samples.map((x) => x.ms) }))])),
  };
}
