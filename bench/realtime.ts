import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import WebSocket from 'ws';
import { createBenchDatabase } from './lib/database.js';
import { loadAverage, machineFacts } from './lib/machine.js';
import { logSummary, startChild, waitForLog } from './lib/processes.js';
import type { BenchOptions, BenchReport, Verdict } from './lib/report.js';
import { freePort, loginWithDevProvider, startService, type RunningService } from './lib/service.js';
import { latencyStats, round } from './lib/stats.js';
import type { Cell } from './lib/table.js';

// DESIGN §7 / issue 10: 100 clients on one diagram, 50 operations/s: fan-out p99 ≤ 50 ms; ≥ 50 % of a bare ws relay's delivered messages/s at saturation.
const BAR_P99_MS = 50;
const BAR_RATIO = 0.5;
const DEFAULT_CLIENTS = 100;
const DEFAULT_RATE = 50;
const WRITERS = 5;
/**
 * Operations each writer keeps in flight at saturation: with one, both systems are bound by their
 * round trip (the row "closed loop" shows it), not by how much they can deliver.
 */
const SATURATION_IN_FLIGHT = 8;
const RELAY = new URL('./bare/relay.ts', import.meta.url).pathname;

/** One connected client: what it received, with the time it arrived. */
interface Client {
  socket: WebSocket;
  onEvent: (handler: (operationId: string, sequence: number, at: number) => void) => void;
  /** Operations refused to this client (it was their writer): a writer waiting on one goes on. */
  onRejected: (handler: (operationId: string) => void) => void;
}

interface Sample { latencies: number[]; lastArrival: Map<string, number>; delivered: number; rejected: number; ms: number }

/** A system under load: how its clients connect and how an operation is written. */
interface System {
  name: string;
  connect(index: number): Promise<Client>;
  /** The message a writer sends: an operation with this id, built on the last sequence it knows. */
  message(writer: number, operationId: string, known: number): string;
  cleanup(): Promise<void>;
  pids: number[];
}

function clientOf(socket: WebSocket, parse: (raw: string) => { operationId: string; sequence: number } | { rejected: string } | null): Client {
  const handlers: ((operationId: string, sequence: number, at: number) => void)[] = [];
  const refusals: ((operationId: string) => void)[] = [];
  socket.on('message', (raw) => {
    const at = performance.now();
    const m = parse(raw.toString());
    if (m && 'rejected' in m) for (const h of refusals) h(m.rejected);
    else if (m) for (const h of handlers) h(m.operationId, m.sequence, at);
  });
  return { socket, onEvent: (h) => { handlers.push(h); }, onRejected: (h) => { refusals.push(h); } };
}

const open = (url: string) => new Promise<WebSocket>((resolve, reject) => {
  const ws = new WebSocket(url);
  ws.once('open', () => resolve(ws));
  ws.once('error', reject);
  ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
});

async function json(url: string, init: { method?: string; token: string; body?: unknown }): Promise<Record<string, unknown>> {
  const res = await request(url, {
    method: (init.method ?? 'GET') as 'GET',
    headers: { authorization: `Bearer ${init.token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${init.method ?? 'GET'} ${url} answered ${res.statusCode}: ${text}`);
  return text ? JSON.parse(text) : {};
}

/** The service: one diagram, a session everyone joined, each client a user of its own signed in through the dev provider. */
async function serviceSystem(service: RunningService, clients: number, log: (line: string) => void): Promise<System> {
  const owner = await loginWithDevProvider(service.url, 'bench-rt-owner');
  const tm = await json(`${service.url}/threat_models`, { method: 'POST', token: owner, body: { name: 'Realtime bench', authorization: [{ principal_type: 'group', provider: '*', provider_id: 'everyone', role: 'writer' }] } });
  const diagram = await json(`${service.url}/threat_models/${tm.id}/diagrams`, { method: 'POST', token: owner, body: { name: 'Bench', type: 'DFD-1.0.0' } });
  const base = `/threat_models/${tm.id}/diagrams/${diagram.id}`;
  const session = await json(`${service.url}${base}/collaborate`, { method: 'POST', token: owner });
  log(`signing in ${clients} users and joining them to the session`);
  const tokens: string[] = [];
  for (let i = 0; i < clients; i += 10) {
    tokens.push(...await Promise.all(Array.from({ length: Math.min(10, clients - i) }, (_, n) => loginWithDevProvider(service.url, `bench-rt-${i + n}`))));
  }
  for (const token of tokens) await json(`${service.url}${base}/collaborate`, { method: 'POST', token });
  // Each writer moves a node of its own: the diagram does not grow while it is measured.
  const nodes = Array.from({ length: WRITERS }, () => randomUUID());
  // Every move goes somewhere new: a move to where the node is changes nothing, which is refused (no_state_change).
  const moves = Array.from({ length: WRITERS }, () => 0);
  let added = false;
  return {
    name: 'service',
    pids: service.processes.map((p) => p.pid),
    async connect(index) {
      const ticket = (await json(`${service.url}/ws/ticket?session_id=${session.session_id}`, { token: tokens[index]! })).ticket as string;
      const socket = await open(`${service.url.replace(/^http/, 'ws')}${base}/ws?session_id=${session.session_id}&ticket=${ticket}`);
      const client = clientOf(socket, (raw) => {
        const m = JSON.parse(raw) as { message_type: string; operation_id?: string; sequence_number?: number };
        if (m.message_type === 'operation_rejected') return { rejected: m.operation_id! };
        return m.message_type === 'diagram_operation_event' ? { operationId: m.operation_id!, sequence: m.sequence_number! } : null;
      });
      if (index === 0 && !added) {
        added = true;
        socket.send(JSON.stringify({ message_type: 'diagram_operation_request', operation_id: randomUUID(), base_vector: 1, operation: { type: 'patch', cells: nodes.map((id) => ({ id, operation: 'add', data: { id, shape: 'process', x: 0, y: 0, width: 80, height: 40 } })) } }));
      }
      return client;
    },
    message: (writer, operationId, known) => JSON.stringify({
      message_type: 'diagram_operation_request', operation_id: operationId, base_vector: known,
      operation: { type: 'patch', cells: [{ id: nodes[writer]!, operation: 'update', data: { id: nodes[writer]!, shape: 'process', x: 1 + (moves[writer]!++ % 1000), y: 0, width: 80, height: 40 } }] },
    }),
    cleanup: async () => {},
  };
}

/** The bare relay: the same clients and messages, relayed as they come. */
async function relaySystem(): Promise<System> {
  const port = await freePort();
  const child = startChild('relay', RELAY, [], { PORT: String(port) });
  await waitForLog(child, 'relay listening');
  let sequence = 0;
  return {
    name: 'bare ws relay',
    pids: [child.pid],
    async connect() {
      const socket = await open(`ws://127.0.0.1:${port}/`);
      return clientOf(socket, (raw) => { const m = JSON.parse(raw) as { operation_id: string; sequence: number }; return { operationId: m.operation_id, sequence: m.sequence }; });
    },
    // The relay numbers nothing; the writer's own count stands in, so the messages are of like size.
    message: (writer, operationId) => JSON.stringify({ message_type: 'diagram_operation_event', operation_id: operationId, sequence: ++sequence, writer, cells: [{ id: randomUUID(), operation: 'update', data: { shape: 'process', x: 1, y: 0, width: 80, height: 40 } }] }),
    cleanup: () => child.stop(),
  };
}

/** The newest sequence number the writers saw, kept from one measurement to the next: a writer builds on what it knows. */
interface Known { sequence: number }

/**
 * Writers send operations at `rate` (open loop: operation i at start + i/rate, latency from its
 * send) or, with rate 0, as fast as each writer's previous operation comes back to it (closed
 * loop; `inFlight` operations at once per writer at saturation). Every client records when each
 * operation reached it.
 */
async function measure(clients: Client[], system: System, known: Known, rate: number, ms: number, inFlight = 1): Promise<Sample> {
  const sent = new Map<string, number>();
  const latencies: number[] = [];
  const lastArrival = new Map<string, number>();
  let delivered = 0;
  const writers = clients.slice(0, WRITERS);
  const waiting = new Map<string, () => void>();
  const handlers = clients.map((c, index) => (operationId: string, sequence: number, at: number) => {
    const t = sent.get(operationId);
    if (t === undefined) return;
    delivered++;
    latencies.push(at - t);
    lastArrival.set(operationId, Math.max(lastArrival.get(operationId) ?? 0, at - t));
    if (index < WRITERS) known.sequence = Math.max(known.sequence, sequence);
    waiting.get(`${index}:${operationId}`)?.();
  });
  let rejected = 0;
  let active = true;
  clients.forEach((c, i) => c.onEvent((...args) => { if (active) handlers[i]!(...args); }));
  clients.forEach((c, i) => c.onRejected((operationId) => {
    if (!active || !sent.has(operationId)) return;
    rejected++;
    waiting.get(`${i}:${operationId}`)?.();
  }));
  const started = performance.now();
  const send = (w: number) => {
    const id = randomUUID();
    sent.set(id, performance.now());
    writers[w]!.socket.send(system.message(w, id, known.sequence));
    return id;
  };
  if (rate > 0) {
    for (let i = 0; performance.now() - started < ms; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      send(i % WRITERS);
    }
  } else {
    await Promise.all(writers.flatMap((_, w) => Array.from({ length: inFlight }, () => w)).map(async (w) => {
      while (performance.now() - started < ms) {
        const id = send(w);
        await new Promise<void>((resolve) => { waiting.set(`${w}:${id}`, resolve); setTimeout(resolve, 5000); });
        waiting.delete(`${w}:${id}`);
      }
    }));
  }
  const elapsed = performance.now() - started;
  await new Promise((r) => setTimeout(r, 1000));
  active = false;
  return { latencies, lastArrival, delivered, rejected, ms: elapsed };
}

export async function run(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date();
  const clientsCount = options.connections?.[0] ?? DEFAULT_CLIENTS;
  const rate = options.rates?.[0] ?? DEFAULT_RATE;
  const ms = options.seconds * 1000;
  const loadBefore = loadAverage();
  const db = await createBenchDatabase();
  options.log(`database ${db.name}; starting the service (serve, projections inside, Redis) and the bare ws relay`);
  // The per-socket operation rate (50/s by default) would cap a saturating writer: raised out of reach.
  const service = await startService({ databaseUrl: db.url, queue: 'redis', topology: 'inline', logLevel: options.logLevel, env: { TMI_REALTIME_OPERATIONS_PER_SECOND: '100000' } });
  const rows: Cell[][] = [];
  const verdicts: Verdict[] = [];
  const raw: Record<string, unknown> = {};
  const rejectedBy: Record<string, number> = {};
  const systems: System[] = [];
  try {
    systems.push(await serviceSystem(service, clientsCount, options.log), await relaySystem());
    const results: Record<string, { open: Sample; saturated: Sample }> = {};
    for (const system of systems) {
      options.log(`${system.name}: connecting ${clientsCount} clients`);
      const clients: Client[] = [];
      for (let i = 0; i < clientsCount; i++) clients.push(await system.connect(i));
      await new Promise((r) => setTimeout(r, 1000));
      options.log(`${system.name}: warm-up ${options.warmupSeconds} s, then ${rate} operations/s for ${options.seconds} s`);
      const known: Known = { sequence: 1 };
      await measure(clients, system, known, rate, options.warmupSeconds * 1000);
      const open = await measure(clients, system, known, rate, ms);
      options.log(`${system.name}: closed loop for ${options.seconds} s (${WRITERS} writers, each sending on its previous operation's return)`);
      const closed = await measure(clients, system, known, 0, ms);
      options.log(`${system.name}: saturation for ${options.seconds} s (${WRITERS} writers, ${SATURATION_IN_FLIGHT} operations in flight each)`);
      const saturated = await measure(clients, system, known, 0, ms, SATURATION_IN_FLIGHT);
      for (const c of clients) c.socket.close();
      results[system.name] = { open, saturated };
      for (const [mode, sample] of [[`${rate} ops/s`, open], ['closed loop', closed], ['saturation', saturated]] as const) {
        const each = latencyStats(sample.latencies);
        const all = latencyStats(sample.lastArrival.values());
        rows.push([system.name, mode, clientsCount, sample.lastArrival.size, round(sample.lastArrival.size / (sample.ms / 1000)),
          round(sample.delivered / (sample.ms / 1000)), round(each.p50_ms, 2), round(each.p99_ms, 2), round(all.p99_ms, 2), round(all.max_ms, 1)]);
      }
      raw[system.name] = { open: { delivered: open.delivered, ms: open.ms }, saturated: { delivered: saturated.delivered, ms: saturated.ms } };
      rejectedBy[`${system.name} at ${rate} ops/s`] = open.rejected;
      rejectedBy[`${system.name} closed loop`] = closed.rejected;
      rejectedBy[`${system.name} at saturation`] = saturated.rejected;
    }
    const svc = results.service!;
    const bare = results['bare ws relay']!;
    const p99 = latencyStats(svc.open.latencies).p99_ms;
    verdicts.push({ bar: `fan-out at ${rate} operations/s to ${clientsCount} clients: p99 ≤ ${BAR_P99_MS} ms`, measured: `p99 ${round(p99, 2)} ms (send → received, every client)`, pass: p99 <= BAR_P99_MS });
    const ratio = (svc.saturated.delivered / svc.saturated.ms) / (bare.saturated.delivered / bare.saturated.ms);
    verdicts.push({ bar: `delivered messages/s at saturation ≥ ${BAR_RATIO * 100} % of the bare ws relay's`, measured: `${round(ratio * 100, 1)} % (${round(svc.saturated.delivered / (svc.saturated.ms / 1000))} vs ${round(bare.saturated.delivered / (bare.saturated.ms / 1000))}/s)`, pass: ratio >= BAR_RATIO });
  } finally {
    for (const s of systems) await s.cleanup().catch(() => {});
    const summary = logSummary(service.processes);
    await service.stop();
    await db.drop();
    raw.logs = summary;
  }
  return {
    name: 'realtime',
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    parameters: { clients: clientsCount, rate, writers: WRITERS, seconds: options.seconds, warmup_seconds: options.warmupSeconds },
    environment: { ...await machineFacts(), load_average_before: loadBefore, load_average_after: loadAverage() },
    tables: [{
      title: `One diagram, ${clientsCount} clients, ${WRITERS} of them writing: latency from an operation's send until it reached a client (ms)`,
      headers: ['system', 'load', 'clients', 'operations', 'operations/s', 'delivered msgs/s', 'p50 each', 'p99 each', 'p99 all clients', 'max all clients'],
      rows,
    }],
    verdicts,
    notes: [
      'service = `serve` with projections inside and Redis (its feed, tickets and queues), the default configuration but the rate limits off (HTTP, and the per-socket operation rate raised to 100,000/s); each client is a user of its own signed in through the dev provider, joined to the session, connected with a ticket.',
      `bare = bench/bare/relay.ts: a ws server relaying every message to every socket, sender included — no validation, no database. Its "operations" are like-sized JSON messages.`,
      `latency counts from the writer's send to the client's receipt, so the service's includes deciding and committing the operation; "p99 all clients" is per operation, the slowest client's.`,
      `closed loop: ${WRITERS} writers, each sending its next operation when its previous one comes back to it (bound by the round trip). saturation: the same with ${SATURATION_IN_FLIGHT} operations in flight per writer, each slot sending its next when its last comes back.`,
      `load average before ${loadBefore}, after ${loadAverage()} (2 CPUs).`,
      `refused operations (counted in no row): ${Object.entries(rejectedBy).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
      `serve: ${String(raw.logs)}`,
    ],
    raw,
  };
}
