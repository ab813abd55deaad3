import pg from 'pg';
import { SAFE_HORIZON_SQL } from '../../src/events/position.js';
import { decodeProgress } from '../../src/projections/runner.js';
import { ignoreIdleError } from '../lib/database.js';

/** Increasing positions and when each was first seen. */
class Timeline {
  private readonly positions: number[] = [];
  private readonly times: number[] = [];

  /** False when the position is not past the last one (checkpoints only move forward). */
  record(position: number, at: number): boolean {
    if (this.positions.length > 0 && position <= this.positions[this.positions.length - 1]!) return false;
    this.positions.push(position);
    this.times.push(at);
    return true;
  }

  /** When the timeline first reached `position` (performance.now() ms), or NaN if it has not yet. */
  reachedAt(position: number): number {
    const n = this.positions.length;
    if (n === 0 || this.positions[n - 1]! < position) return NaN;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.positions[mid]! >= position) hi = mid;
      else lo = mid + 1;
    }
    return this.times[lo]!;
  }
}

/**
 * Watches projections from outside the service: LISTENs on the channel the projectors NOTIFY
 * in their checkpoint transactions (sent at commit) and remembers, per
 * projection, when each new position became visible. A NOTIFY is delivered only after the
 * transaction that sent it committed, so its arrival is the moment the read rows were readable.
 */
export class ProgressWatch {
  private readonly seen = new Map<string, Timeline>();
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly client: pg.Client) {
    client.on('notification', (msg) => {
      const at = performance.now();
      // `name:generation:position:halted_at` (the runner's) or `name:position` (the bare server's).
      // A bench never rebuilds a projection, so positions are compared across the one generation.
      const report = decodeProgress(msg.payload ?? '');
      if (report) this.record(report.name, report.position, at);
    });
  }

  /** Starts listening on `channel`, and records where the named checkpoints are now. */
  static async open(url: string, channel: string, checkpoints: { table: string; names: readonly string[] }): Promise<ProgressWatch> {
    const client = new pg.Client({ connectionString: url, application_name: 'tmi-bench-listen' });
    client.on('error', ignoreIdleError);
    await client.connect();
    const watch = new ProgressWatch(client);
    await client.query(`listen ${channel}`);
    const { rows } = await client.query<{ name: string; position: string }>(
      `select name, position from ${checkpoints.table} where name = any($1)`, [checkpoints.names]);
    for (const r of rows) watch.record(r.name, Number(r.position), performance.now());
    return watch;
  }

  private record(name: string, position: number, at: number): void {
    let log = this.seen.get(name);
    if (!log) this.seen.set(name, (log = new Timeline()));
    // A repeated or older position adds nothing.
    if (!log.record(position, at)) return;
    for (const wake of [...this.waiters]) wake();
  }

  private reachedAt(name: string, position: number): number {
    return this.seen.get(name)?.reachedAt(position) ?? NaN;
  }

  /** When every named projection had passed `position`: the moment the event was visible everywhere it is read. */
  visibleAt(names: readonly string[], position: number): number {
    let at = -Infinity;
    for (const name of names) at = Math.max(at, this.reachedAt(name, position));
    return at;
  }

  /** Resolves with `visibleAt` once it is known, or NaN after `timeoutMs`. */
  async waitVisible(names: readonly string[], position: number, timeoutMs: number): Promise<number> {
    const now = this.visibleAt(names, position);
    if (!Number.isNaN(now)) return now;
    return new Promise<number>((resolve) => {
      const check = () => {
        const at = this.visibleAt(names, position);
        if (Number.isNaN(at)) return;
        done(at);
      };
      const done = (at: number) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(at);
      };
      const timer = setTimeout(() => done(NaN), timeoutMs);
      this.waiters.add(check);
    });
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}

/**
 * The safe horizon (`SAFE_HORIZON_SQL`: the oldest transaction still running that might append
 * an event), polled: projectors read only below it, so no projection can show an event before
 * the horizon has passed it. Each poll also notes which database the oldest running transaction
 * of the cluster belongs to; "foreign" is the time that was another database's (which the
 * horizon no longer waits for, so the column shows how much such work there was).
 */
export class HorizonWatch {
  private readonly timeline = new Timeline();
  // Poll times, and for each the running total of ms during which a foreign transaction held the horizon.
  private readonly polls: number[] = [];
  private readonly foreignSoFar: number[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  private constructor(private readonly client: pg.Client, database: string, intervalMs: number) {
    this.loop = (async () => {
      let foreign = false;
      while (this.running) {
        const { rows } = await client.query<{ horizon: string; holder: string | null }>(
          `select ${SAFE_HORIZON_SQL} as horizon,
                  (select datname from pg_stat_activity where backend_xid is not null order by age(backend_xid) desc limit 1) as holder`);
        const now = performance.now();
        const n = this.polls.length;
        this.foreignSoFar.push(n === 0 ? 0 : this.foreignSoFar[n - 1]! + (foreign ? now - this.polls[n - 1]! : 0));
        this.polls.push(now);
        foreign = rows[0]!.holder !== null && rows[0]!.holder !== database;
        this.timeline.record(Number(rows[0]!.horizon), now);
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    })().catch(() => {});
  }

  static async open(url: string, database: string, intervalMs = 5): Promise<HorizonWatch> {
    const client = new pg.Client({ connectionString: url, application_name: 'tmi-bench-horizon' });
    client.on('error', ignoreIdleError);
    await client.connect();
    return new HorizonWatch(client, database, intervalMs);
  }

  /** Polls taken so far. */
  pollCount(): number {
    return this.polls.length;
  }

  /** When the horizon first passed `position` (every event at or below it settled), or NaN. */
  passedAt(position: number): number {
    return this.timeline.reachedAt(position + 1);
  }

  /** How much of [from, to] a transaction of another database held the horizon (ms, to the poll). */
  foreignBetween(from: number, to: number): number {
    return this.foreignUntil(to) - this.foreignUntil(from);
  }

  private foreignUntil(t: number): number {
    // The last poll at or before t.
    let lo = 0;
    let hi = this.polls.length - 1;
    if (hi < 0 || this.polls[0]! > t) return 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.polls[mid]! <= t) lo = mid;
      else hi = mid - 1;
    }
    return this.foreignSoFar[lo]!;
  }

  async close(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.client.end().catch(() => {});
  }
}
