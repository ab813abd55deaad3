import pg from 'pg';
import { ignoreIdleError } from '../lib/database.js';

/**
 * Watches projections from outside the service: LISTENs on the channel the projectors NOTIFY
 * in their checkpoint transactions (`name:position`, sent at commit) and remembers, per
 * projection, when each new position became visible. A NOTIFY is delivered only after the
 * transaction that sent it committed, so its arrival is the moment the read rows were readable.
 */
export class ProgressWatch {
  private readonly seen = new Map<string, { positions: number[]; times: number[] }>();
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly client: pg.Client) {
    client.on('notification', (msg) => {
      const at = performance.now();
      const [name, pos] = (msg.payload ?? '').split(':');
      if (!name || !pos) return;
      this.record(name, Number(pos), at);
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
    if (!log) this.seen.set(name, (log = { positions: [], times: [] }));
    // Checkpoints only move forward; a repeated or older position adds nothing.
    if (log.positions.length > 0 && position <= log.positions[log.positions.length - 1]!) return;
    log.positions.push(position);
    log.times.push(at);
    for (const wake of [...this.waiters]) wake();
  }

  /** When `name` first reached `position` (performance.now() ms), or NaN if it has not yet. */
  private reachedAt(name: string, position: number): number {
    const log = this.seen.get(name);
    if (!log || log.positions.length === 0 || log.positions[log.positions.length - 1]! < position) return NaN;
    let lo = 0;
    let hi = log.positions.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (log.positions[mid]! >= position) hi = mid;
      else lo = mid + 1;
    }
    return log.times[lo]!;
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
