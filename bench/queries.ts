import pg from 'pg';
import { CPU_HEADERS, addWindows, cpuCells, startCpuWindow, type BackendFilter, type CpuWindow } from './lib/cpu-window.js';
import { cachedBenchDatabase, ignoreIdleError } from './lib/database.js';
import { httpTarget, type Answer } from './lib/http.js';
import { loadAverage, machineFacts } from './lib/machine.js';
import { runSlice, summarize } from './lib/measure.js';
import { latenciesFromSchedule, runOpenLoop, sendLags, type OpenLoopResult } from './lib/open-loop.js';
import { selectNames, type BenchOptions, type BenchReport, type Verdict } from './lib/report.js';
import { logSummary } from './lib/processes.js';
import { loginWithDevProvider, startBare, startService, withGroups } from './lib/service.js';
import { latencyStats, round } from './lib/stats.js';
import type { Cell } from './lib/table.js';
import { inTurns } from './lib/turns.js';
import { BENCH_GROUP, BENCH_READER, buildBareReadable, seedDatabaseName, seedThreatModels } from './queries/seed.js';

// DESIGN §7: list threat models for a user who can read 1k of 100k: p99 ≤ 10 ms, ≥ 5k req/s.
const BAR_P99_MS = 10;
const BAR_PER_S = 5000;
const DEFAULT_RATES = [100, 200, 400, 800, 1600, 3200, 6400];
const DEFAULT_CONNECTIONS = [8, 32];
const OPEN_LOOP_CONNECTIONS = 256;
// Past this p99 (or with errors, or answering under 90 % of the offered rate) a system is saturated: higher steps only measure its queue.
const SATURATED_P99_MS = 100;
const SYSTEMS = ['list', 'bare-list', 'get', 'threats', 'bare-threats', 'full'] as const;
type SystemName = (typeof SYSTEMS)[number];
/** The threats list measured: one severity, by score, a page of 20 (the contract's parameters). */
const THREATS_QUERY = 'severity=high&sort=score:desc&limit=20';
const LABELS: Record<SystemName, string> = {
  list: 'GET /threat_models?limit=20', 'bare-list': 'bare SELECT of 20 by index', get: 'GET /threat_models/{id}',
  threats: `GET …/threats?${THREATS_QUERY}`, 'bare-threats': 'bare SELECT of 20 threats by index', full: 'GET /threat_models/{id} with children',
};

interface System {
  name: SystemName;
  label: string;
  url: string;
  pids: number[];
  backends: BackendFilter;
  /** The next request; `get` walks through the reader's threat models. */
  request: () => { method: 'GET'; path: string; headers: Record<string, string> };
}

interface OpenSlice { result: OpenLoopResult<Answer>; cpu: CpuWindow }

/** One open-loop step of one system: p99 from the scheduled start, and whether every answer was a quick 200. */
function judge(slices: OpenSlice[]) {
  const samples = slices.flatMap((s) => s.result.samples);
  const stats = latencyStats(latenciesFromSchedule(samples));
  const ok = samples.filter((s) => s.result?.status === 200).length;
  const failed = samples.length - ok;
  return { samples, stats, ok, failed, pass: failed === 0 && stats.p99_ms <= BAR_P99_MS };
}

export async function run(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date();
  const names = selectNames(options.only, SYSTEMS);
  const ladder = options.rates ?? DEFAULT_RATES;
  const connections = options.connections ?? DEFAULT_CONNECTIONS;
  const warmupMs = (options.warmupSeconds * 1000) / options.slices;
  const measureMs = (options.seconds * 1000) / options.slices;
  const params = { models: options.models, readable: options.readable, threats: options.threats, children: options.children };
  if (params.models % params.readable !== 0) throw new Error('--models must be a multiple of --readable');
  const loadBefore = loadAverage();

  const seeded = await cachedBenchDatabase(seedDatabaseName(params), async (url) => {
    const t0 = performance.now();
    const { seconds, targets } = await seedThreatModels(url, params, options.log);
    const readable = await buildBareReadable(url);
    if (readable !== params.readable) throw new Error(`the projections give the bench reader ${readable} readable threat models, expected ${params.readable}`);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('create table bench_seed (append_s real, project_s real, total_s real, threats_parent uuid, full_parent uuid)');
    await client.query('insert into bench_seed values ($1, $2, $3, $4, $5)', [seconds.append, seconds.project, (performance.now() - t0) / 1000, targets.threats, targets.full]);
    await client.end();
  }, { reseed: options.reseed, log: options.log });
  const admin = new pg.Client({ connectionString: seeded.url, application_name: 'tmi-bench-admin' });
  admin.on('error', ignoreIdleError);
  await admin.connect();
  const { rows: seedRows } = await admin.query<{ append_s: number; project_s: number; total_s: number; threats_parent: string; full_parent: string }>('select * from bench_seed');
  const seedTimes = seedRows[0]!;
  options.log(`seed of ${params.models} threat models (${params.readable} readable by ${BENCH_READER}): append ${round(seedTimes.append_s, 1)} s, projections ${round(seedTimes.project_s, 1)} s, total ${round(seedTimes.total_s, 1)} s${seeded.built ? '' : ' (when it was built)'}`);

  const openRows: Cell[][] = [];
  const closedRows: Cell[][] = [];
  const verdicts: Verdict[] = [];
  const raw: Record<string, unknown> = {};
  const best = new Map<SystemName, { rate: number; p99: number } | null>();
  const closedBest = new Map<SystemName, { perS: number; connections: number; p99: number }>();
  let service;
  let bare;
  try {
    service = await startService({ databaseUrl: seeded.url, queue: 'redis', topology: options.topology, logLevel: options.logLevel });
    bare = await startBare({ databaseUrl: seeded.url, logLevel: options.logLevel });
    const { token } = withGroups(service, await loginWithDevProvider(service.url, BENCH_READER), [BENCH_GROUP]);
    const auth = { authorization: `Bearer ${token}` };
    // The two parents of the children are left out: GET /threat_models/{id} of the one with 10,000 threats would answer megabytes.
    const { rows: ids } = await admin.query<{ id: string }>('select id from bare_readable where subject = $1 and id <> all($2::uuid[]) order by id',
      [BENCH_READER, [seedTimes.threats_parent, seedTimes.full_parent]]);
    let next = 0;
    const all: Record<SystemName, System> = {
      list: {
        name: 'list', label: LABELS.list, url: service.url, pids: service.processes.map((p) => p.pid),
        backends: { database: seeded.name, applicationName: null }, request: () => ({ method: 'GET', path: '/threat_models?limit=20', headers: auth }),
      },
      'bare-list': {
        name: 'bare-list', label: LABELS['bare-list'], url: bare.url, pids: [bare.process.pid],
        backends: { database: seeded.name, applicationName: 'tmi-bench-bare' }, request: () => ({ method: 'GET', path: `/list?subject=${BENCH_READER}`, headers: {} }),
      },
      get: {
        name: 'get', label: LABELS.get, url: service.url, pids: service.processes.map((p) => p.pid),
        backends: { database: seeded.name, applicationName: null },
        request: () => ({ method: 'GET', path: `/threat_models/${ids[next++ % ids.length]!.id}`, headers: auth }),
      },
      threats: {
        name: 'threats', label: LABELS.threats, url: service.url, pids: service.processes.map((p) => p.pid),
        backends: { database: seeded.name, applicationName: null },
        request: () => ({ method: 'GET', path: `/threat_models/${seedTimes.threats_parent}/threats?${THREATS_QUERY}`, headers: auth }),
      },
      'bare-threats': {
        name: 'bare-threats', label: LABELS['bare-threats'], url: bare.url, pids: [bare.process.pid],
        backends: { database: seeded.name, applicationName: 'tmi-bench-bare' },
        request: () => ({ method: 'GET', path: `/threats?threat_model_id=${seedTimes.threats_parent}&severity=high`, headers: {} }),
      },
      full: {
        name: 'full', label: LABELS.full, url: service.url, pids: service.processes.map((p) => p.pid),
        backends: { database: seeded.name, applicationName: null },
        request: () => ({ method: 'GET', path: `/threat_models/${seedTimes.full_parent}`, headers: auth }),
      },
    };
    const systems = names.map((n) => all[n]);

    // Before timing: the service's first page and the bare one are the same 20 rows, and the total is the whole readable set.
    const probe = async (path: string, headers: Record<string, string>, url: string) => {
      const res = await fetch(`${url}${path}`, { headers });
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
      return await res.json() as Record<string, unknown>;
    };
    const idsOf = (items: unknown) => JSON.stringify((items as { id: string }[]).map((t) => t.id));
    const page = await probe('/threat_models?limit=20', auth, service.url);
    const barePage = await probe(`/list?subject=${BENCH_READER}`, {}, bare.url);
    if (page.total !== params.readable) throw new Error(`the list's total is ${page.total}, expected ${params.readable}`);
    if (idsOf(page.threat_models) !== idsOf(barePage.threat_models)) throw new Error('the service\'s first page and the bare query\'s differ');
    const threatsPage = await probe(`/threat_models/${seedTimes.threats_parent}/threats?${THREATS_QUERY}`, auth, service.url);
    const bareThreats = await probe(`/threats?threat_model_id=${seedTimes.threats_parent}&severity=high`, {}, bare.url);
    const { rows: [high] } = await admin.query<{ n: number }>(
      `select count(*)::int as n from threats where threat_model_id = $1 and severity = 'high' and deleted_at is null`, [seedTimes.threats_parent]);
    if (threatsPage.total !== high!.n || high!.n < 20) throw new Error(`the threats list's total is ${String(threatsPage.total)}, expected ${high!.n} (at least 20)`);
    if (idsOf(threatsPage.threats) !== idsOf(bareThreats.threats)) throw new Error('the service\'s first page of threats and the bare query\'s differ');
    const full = await probe(`/threat_models/${seedTimes.full_parent}`, auth, service.url);
    const children = ['threats', 'documents', 'repositories', 'notes', 'assets'].reduce((n, k) => n + (full[k] as unknown[]).length, 0);
    if (children !== params.children) throw new Error(`the full threat model has ${children} children, expected ${params.children}`);

    // Open loop, climbing the rate ladder; a system stops climbing after its first failed step,
    // then gets one more step half-way between its last pass and that failure.
    const open = async (system: System, rate: number): Promise<OpenSlice> => {
      const target = httpTarget(system.url, OPEN_LOOP_CONNECTIONS);
      const send = () => target.send(system.request());
      try {
        await runOpenLoop({ rate, warmupMs: 0, measureMs: warmupMs, send });
        const finish = await startCpuWindow(admin, system.pids, system.backends);
        const result = await runOpenLoop({ rate, warmupMs: 0, measureMs, send });
        return { result, cpu: await finish() };
      } finally {
        await target.close();
      }
    };
    const record = (system: System, rate: number, slices: OpenSlice[]) => {
      const j = judge(slices);
      const lag = latencyStats(sendLags(j.samples));
      const perS = slices.reduce((n, s) => n + s.result.completed_per_s, 0) / slices.length;
      const bytes = j.samples.reduce((n, s) => n + (s.result?.bytes ?? 0), 0) / Math.max(1, j.ok);
      openRows.push([system.label, rate, round(perS), round(j.stats.p50_ms, 2), round(j.stats.p99_ms, 2), round(j.stats.max_ms, 1), j.ok, j.failed,
        j.pass ? 'yes' : 'no', round(lag.p99_ms, 1), Math.round(bytes), ...cpuCells(addWindows(slices.map((s) => s.cpu)), j.samples.length)]);
      raw[`open/${system.name}/${rate}`] = slices.map((s) => ({ ...s.result, samples: undefined, latencies_ms: latenciesFromSchedule(s.result.samples), cpu: s.cpu }));
      const saturated = j.failed > 0 || j.stats.p99_ms > SATURATED_P99_MS || perS < 0.9 * rate;
      options.log(`  ${system.label.padEnd(28)} ${String(rate).padStart(5)}/s  p99 ${round(j.stats.p99_ms, 2)} ms  ${j.pass ? 'pass' : 'FAIL'}${saturated ? ' (saturated: stops climbing)' : ''}`);
      return { pass: j.pass, saturated };
    };
    // Each system climbs the ladder until it saturates, so the table shows p99 against the rate
    // even when a noisy tail fails a low step; its best rate is the highest step that passed.
    // Then one more step half-way between that and the failed step above it, if there was one.
    const state = new Map(systems.map((s) => [s.name, { best: null as number | null, failedAbove: null as number | null, saturated: false }]));
    for (const rate of ladder) {
      const climbing = systems.filter((s) => !state.get(s.name)!.saturated);
      if (climbing.length === 0) break;
      options.log(`open loop at ${rate} req/s`);
      const slices = await inTurns(climbing, options.slices, (system) => open(system, rate));
      climbing.forEach((system, i) => {
        const st = state.get(system.name)!;
        const { pass, saturated } = record(system, rate, slices[i]!);
        if (pass) {
          st.best = rate;
          st.failedAbove = null;
        } else {
          st.failedAbove ??= rate;
        }
        st.saturated ||= saturated;
      });
    }
    const halfway = systems.filter((s) => state.get(s.name)!.best !== null && state.get(s.name)!.failedAbove !== null);
    if (halfway.length > 0) {
      const rateOf = (s: System) => Math.round((state.get(s.name)!.best! + state.get(s.name)!.failedAbove!) / 2);
      options.log('open loop half-way between the best step and the failed step above it');
      const slices = await inTurns(halfway, options.slices, (system) => open(system, rateOf(system)));
      halfway.forEach((system, i) => {
        if (record(system, rateOf(system), slices[i]!).pass) state.get(system.name)!.best = rateOf(system);
      });
    }
    for (const system of systems) {
      const st = state.get(system.name)!;
      best.set(system.name, st.best === null ? null : { rate: st.best, p99: NaN });
    }

    // Closed loop: each connection sends its next request when the answer arrives.
    for (const n of connections) {
      options.log(`closed loop, ${n} connections`);
      const slices = await inTurns(systems, options.slices, async (system) => {
        const target = httpTarget(system.url, n);
        let settled = 0;
        const op = async () => {
          const answer = await target.send(system.request());
          settled++;
          if (answer.status !== 200) throw new Error(`answered ${answer.status}`);
          return 1;
        };
        try {
          await runSlice({ writers: n, warmupMs: 0, measureMs: warmupMs, op });
          settled = 0;
          const finish = await startCpuWindow(admin, system.pids, system.backends);
          const slice = await runSlice({ writers: n, warmupMs: 0, measureMs, op });
          return { slice, cpu: await finish(), settled };
        } finally {
          await target.close();
        }
      });
      systems.forEach((system, i) => {
        const result = summarize(slices[i]!.map((s) => s.slice));
        const settled = slices[i]!.reduce((x, s) => x + s.settled, 0);
        closedRows.push([system.label, n, round(result.commits_per_s), round(result.p50_ms, 2), round(result.p99_ms, 2), result.errors,
          result.slice_events_per_s.join(' '), ...cpuCells(addWindows(slices[i]!.map((s) => s.cpu)), settled)]);
        raw[`closed/${system.name}/${n}`] = { ...result, cpu: slices[i]!.map((s) => s.cpu) };
        options.log(`  ${system.label.padEnd(28)} ${round(result.commits_per_s)} req/s  p99 ${round(result.p99_ms, 2)} ms`);
        const prev = closedBest.get(system.name);
        if (result.errors === 0 && (!prev || result.commits_per_s > prev.perS)) closedBest.set(system.name, { perS: result.commits_per_s, connections: n, p99: result.p99_ms });
      });
    }
  } finally {
    await bare?.stop();
    await service?.stop();
    await admin.end().catch(() => {});
  }

  // One block per request, rates ascending (the half-way step was measured last).
  const order = new Map(SYSTEMS.map((n, i) => [n, i]));
  const labelOrder = (label: Cell) => order.get(SYSTEMS.find((n) => LABELS[n] === label)!) ?? 0;
  openRows.sort((a, b) => labelOrder(a[0]!) - labelOrder(b[0]!) || Number(a[1]) - Number(b[1]));
  const describe = (name: SystemName) => {
    const open = best.get(name);
    const closed = closedBest.get(name);
    return `open loop: ${open ? `${open.rate} req/s` : 'no rate'} with p99 ≤ ${BAR_P99_MS} ms; closed loop: ${closed ? `${round(closed.perS)} req/s at ${closed.connections} connections (p99 ${round(closed.p99, 2)} ms)` : 'n/a'}`;
  };
  if (names.includes('list')) {
    const open = best.get('list');
    verdicts.push({
      bar: `GET /threat_models?limit=20, reader of ${params.readable} of ${params.models}: p99 ≤ ${BAR_P99_MS} ms at ≥ ${BAR_PER_S} req/s`,
      measured: `${describe('list')}${names.includes('bare-list') ? `; bare limit ${describe('bare-list')}` : ''}`,
      pass: open !== undefined && open !== null && open.rate >= BAR_PER_S,
    });
  }
  if (!ladder.some((r) => r >= BAR_PER_S)) verdicts.push({ bar: `the bar needs a rate of ${BAR_PER_S} req/s or more on the ladder`, measured: `ladder ${ladder.join(', ')}`, pass: false });
  const loadAfter = loadAverage();
  const logs = logSummary([...(service?.processes ?? []), ...(bare ? [bare.process] : [])]);
  return {
    name: 'queries',
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    parameters: { seconds: options.seconds, warmup_seconds: options.warmupSeconds, slices: options.slices, ladder, connections, systems: names, ...params, log_level: options.logLevel },
    environment: { ...(await machineFacts()), postgres: seeded.server, database: seeded.name, seed_seconds: seedTimes, seeded_this_run: seeded.built, load_average_before: loadBefore, load_average_after: loadAfter },
    tables: [
      {
        title: `Open loop at a fixed rate, latency from each request's scheduled start (ms); pass = p99 ≤ ${BAR_P99_MS} ms and every answer 200`,
        headers: ['request', 'offered/s', 'done/s', 'p50', 'p99', 'max', '200', 'other', 'pass', 'send lag p99', 'bytes', ...CPU_HEADERS],
        rows: openRows,
      },
      {
        title: 'Closed loop: N connections, each sending its next request on the answer (ms)',
        headers: ['request', 'connections', 'req/s', 'p50', 'p99', 'errors', 'per slice', ...CPU_HEADERS],
        rows: closedRows,
      },
    ],
    verdicts,
    notes: [
      `seed: ${params.models} threat models written with the real decider through EventStore.appendToStreams (1,000 streams per append), projected by the real projections; ${params.models - params.readable} belong to 1,000 other users.`,
      `the bench reader (dev-provider login ${BENCH_READER}, token re-issued with the configured secret to assert group ${BENCH_GROUP}) can read ${params.readable}, one in every ${params.models / params.readable}: 40 % it owns, 30 % by a user reader entry, 20 % by a reader entry for its group, 10 % by a reader entry for everyone.`,
      `seeding took ${round(seedTimes.total_s, 1)} s (append ${round(seedTimes.append_s, 1)} s, projections ${round(seedTimes.project_s, 1)} s); the database ${seeded.name} is named after the migrations, the projections' versions and the seed parameters, kept between runs, rebuilt by --reseed.`,
      'bare = bench/bare/server.ts (same Fastify, JSON and pino at the same level): the 20 newest ids of the reader from a (subject, modified_at desc, id) index over a table of readable ids (one row per owner, plus the reader\'s 1,000), joined to threat_models by primary key; no total, no auth. It returns the same 20 rows the service does (checked before timing).',
      `children: ${params.threats} threats (severities in turn, scores spread 0–10) under one of the reader's threat models, listed with ${THREATS_QUERY} (TMI's default list, one severity by score); ${params.children} children (threats, documents, repositories, notes, assets 8:4:3:3:2, documents, assets and every fifth threat with metadata) under another, read whole by GET /threat_models/{id}. bare threats = the same 20 rows from the (threat_model_id, severity, score) index, no total, no auth.`,
      'service = `serve` with projections inside, BullMQ on Redis, rate limit off. GET /threat_models/{id} walks through the reader\'s threat models but the two parents of the children.',
      `open loop: requests at start + i/rate on up to ${OPEN_LOOP_CONNECTIONS} keep-alive connections; each system climbs the ladder until it saturates (p99 > ${SATURATED_P99_MS} ms, errors, or under 90 % of the offered rate answered); its best rate is the highest step that passed, refined by one step half-way to the failed step above it. each step gets ${options.seconds} s per system in ${options.slices} slices taken in turns (${options.warmupSeconds} s warm-up, fresh connections each slice).`,
      `load average before ${loadBefore}, after ${loadAfter} (2 CPUs).`,
      logs,
    ],
    raw,
  };
}
