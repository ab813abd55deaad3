import type pg from 'pg';
import type { Cell } from './table.js';
import { canReadProcessCpu, machineTicks, processCpuMicros } from './cpu.js';

/** CPU spent during one measured slice, split by who spent it (µs), and how idle the machine was. */
export interface CpuWindow {
  /** This process: the load generator (and, in the lag bench, the progress listener). */
  generator_us: number;
  /** The server processes under test (`serve`, the worker, or the bare server). */
  server_us: number;
  /** The PostgreSQL backends serving them. */
  backend_us: number;
  /** Share of the machine's CPU time that was idle, 0..1: near 0 means the numbers are CPU-bound. */
  machine_idle: number;
  wall_ms: number;
}

/** Which backends belong to a system: those of its database, by application name. */
export interface BackendFilter {
  database: string;
  /** Exactly this application name, or (null) every one that is not the bench's own (`tmi-bench-*`). */
  applicationName: string | null;
}

export async function backendPids(admin: pg.Client, filter: BackendFilter): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    `select pid from pg_stat_activity
     where datname = $1 and pid <> pg_backend_pid() and backend_type = 'client backend'
       and (case when $2::text is null then application_name not like 'tmi-bench-%' else application_name = $2 end)`,
    [filter.database, filter.applicationName]);
  return rows.map((r) => Number(r.pid));
}

/**
 * Starts counting; `finish()` returns the window. Backends are listed at both ends, so a
 * connection the pool opened during the slice is counted too (from 0: it began inside the window).
 */
export async function startCpuWindow(admin: pg.Client, serverPids: number[], filter: BackendFilter): Promise<() => Promise<CpuWindow>> {
  if (!canReadProcessCpu()) {
    return async () => ({ generator_us: NaN, server_us: NaN, backend_us: NaN, machine_idle: NaN, wall_ms: NaN });
  }
  const before = new Map<number, number>();
  for (const pid of await backendPids(admin, filter)) before.set(pid, processCpuMicros([pid]));
  const server0 = processCpuMicros(serverPids);
  const generator0 = process.cpuUsage();
  const machine0 = machineTicks();
  const t0 = performance.now();
  return async () => {
    const generator = process.cpuUsage(generator0);
    const server = processCpuMicros(serverPids) - server0;
    const machine1 = machineTicks();
    const wall = performance.now() - t0;
    const pids = new Set([...before.keys(), ...await backendPids(admin, filter)]);
    let backend = 0;
    for (const pid of pids) backend += Math.max(0, processCpuMicros([pid]) - (before.get(pid) ?? 0));
    return {
      generator_us: generator.user + generator.system,
      server_us: server,
      backend_us: backend,
      machine_idle: (machine1.idle - machine0.idle) / Math.max(1, machine1.total - machine0.total),
      wall_ms: wall,
    };
  };
}

/** Sums windows of several slices. */
export function addWindows(windows: CpuWindow[]): CpuWindow {
  const sum = (f: (w: CpuWindow) => number) => windows.reduce((n, w) => n + f(w), 0);
  const wall = sum((w) => w.wall_ms);
  return {
    generator_us: sum((w) => w.generator_us),
    server_us: sum((w) => w.server_us),
    backend_us: sum((w) => w.backend_us),
    machine_idle: windows.length === 0 ? NaN : sum((w) => w.machine_idle * w.wall_ms) / wall,
    wall_ms: wall,
  };
}

/** Per-request CPU columns: load generator, server processes, PostgreSQL backends (µs), and machine idle. */
export function cpuCells(cpu: CpuWindow, requests: number): Cell[] {
  const per = (us: number) => (requests > 0 ? Math.round(us / requests) : NaN);
  return [per(cpu.generator_us), per(cpu.server_us), per(cpu.backend_us), `${Math.round(cpu.machine_idle * 100)} %`];
}
export const CPU_HEADERS = ['gen µs/req', 'server µs/req', 'pg µs/req', 'idle'];
