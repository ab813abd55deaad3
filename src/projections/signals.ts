import pg from 'pg';
import type { Logger } from 'pino';
import type { QueueBackend } from '../infra/queue.js';
import { PROGRESS_CHANNEL, decodeProgress, type ProgressReport } from './runner.js';

export const PROJECTION_QUEUE = 'tmi-projections';

/** What a projection halted before the awaited position does to a wait; see ProjectionProgress.waitFor. */
export type HaltedPolicy = 'give_up' | 'skip';
export const CATCH_UP_ALL = 'catch-up-all';

/**
 * Wake-ups for projectors through BullMQ. The queue carries "catch up projection X", never
 * events; one job per projection is kept (deduplicated, keeping the last one while a job is
 * active) and wake-ups asked for in the same tick are sent together.
 */
export class ProjectionWakeups {
  private pending = new Set<string>();
  private scheduled = false;

  constructor(private readonly queues: QueueBackend, private readonly log: Logger) {}

  wake(names: Iterable<string>): void {
    for (const n of names) this.pending.add(n);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const names = [...this.pending];
    this.pending.clear();
    if (names.length === 0) return;
    try {
      await this.queues.queue(PROJECTION_QUEUE).addBulk(names.map((name) => ({
        name,
        data: { projection: name },
        opts: { deduplication: { id: name, keepLastIfActive: true }, removeOnComplete: true, removeOnFail: 100 },
      })));
    } catch (err) {
      // The safety-net scheduler picks the work up; a command never fails because a wake-up was lost.
      this.log.warn({ err, projections: names }, 'projection wake-up not delivered');
    }
  }
}

/**
 * Knows how far each projection has got, from PostgreSQL NOTIFYs sent in the projectors'
 * checkpoint transactions, so a command can answer once its read model has caught up.
 *
 * A position is only meaningful within its checkpoint's generation: a rebuild starts a new one
 * at 0, and what was cached of the old one is dropped rather than believed. A projection halted
 * on a poison event at or before the awaited position cannot get there until an operator acts,
 * so nobody waits for it.
 */
export class ProjectionProgress {
  private readonly known = new Map<string, { generation: number; position: number; halted_at: number | null }>();
  private listener: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private readonly waiters = new Set<{ names: string[]; position: number; halted: HaltedPolicy; resolve: (ok: boolean) => void }>();
  private poller: NodeJS.Timeout | null = null;
  private closed = false;

  /** With `wakeups`, a wait still open at a poll sends its projections' wake-ups again. */
  constructor(private readonly pool: pg.Pool, private readonly databaseUrl: string, private readonly log: Logger, private readonly wakeups?: ProjectionWakeups) {}

  /**
   * Resolves true once every named projection has passed `position`; false after the timeout,
   * or when one of them is halted before it: at once (`halted: 'give_up'`, the default — a
   * command answers 202 now), or once the others have got there (`'skip'` — a query reads the
   * freshest tables it can get).
   */
  async waitFor(names: readonly string[], position: number, timeoutMs: number, options: { halted?: HaltedPolicy } = {}): Promise<boolean> {
    if (names.length === 0) return true;
    const halted = options.halted ?? 'give_up';
    // The cache is trusted only while NOTIFYs flow: without the listener a rebuild could go unseen.
    if (this.listener && this.reached(names, position)) return true;
    await this.ensureListening();
    try {
      await this.refresh(names);
    } catch (err) {
      // The caller's write has committed: a failed look at the checkpoints must not turn it into
      // an error. Wait on the NOTIFYs and the poll instead; at worst the answer is "not yet" (202).
      this.log.warn({ err, projections: names }, 'projection checkpoints unreadable; waiting on notifications');
    }
    const now = this.verdict(names, position, halted);
    if (now !== null) return now;
    if (timeoutMs <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const waiter = {
        names: [...names],
        position,
        halted,
        resolve: (ok: boolean) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => waiter.resolve(this.reached(names, position)), timeoutMs);
      this.waiters.add(waiter);
      this.ensurePolling();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    for (const w of [...this.waiters]) w.resolve(false);
    await this.listener?.end().catch(() => {});
  }

  private reached(names: readonly string[], position: number): boolean {
    return names.every((n) => (this.known.get(n)?.position ?? 0) >= position);
  }

  /** It stopped on a poison event it has to pass to get to `position`. */
  private haltedBefore(name: string, position: number): boolean {
    const k = this.known.get(name);
    return k !== undefined && k.halted_at !== null && k.halted_at > k.position && k.halted_at <= position;
  }

  /** True: all there; false: some never will (halted) and the policy says stop; null: keep waiting. */
  private verdict(names: readonly string[], position: number, halted: HaltedPolicy): boolean | null {
    const pending = names.filter((n) => (this.known.get(n)?.position ?? 0) < position);
    if (pending.length === 0) return true;
    const stuck = pending.filter((n) => this.haltedBefore(n, position));
    if (stuck.length > 0 && (halted === 'give_up' || stuck.length === pending.length)) return false;
    return null;
  }

  private record(report: ProgressReport): void {
    const current = this.known.get(report.name);
    // A sender that predates generations speaks of the current one.
    const generation = report.generation ?? current?.generation ?? 0;
    if (!current || generation > current.generation) {
      this.known.set(report.name, { generation, position: report.position, halted_at: report.halted_at });
    } else if (generation === current.generation && report.position >= current.position) {
      // Reports may arrive out of order (a poll's read against a NOTIFY): an older one changes nothing.
      this.known.set(report.name, { generation, position: report.position, halted_at: report.halted_at });
    }
    for (const w of [...this.waiters]) {
      const verdict = this.verdict(w.names, w.position, w.halted);
      if (verdict !== null) w.resolve(verdict);
    }
  }

  private async refresh(names: readonly string[]): Promise<void> {
    const { rows } = await this.pool.query<{ name: string; generation: number; position: number; halted_at: number | null }>(
      'select name, generation, position, halted_at from projection_checkpoints where name = any($1)', [names]);
    for (const r of rows) {
      this.record({ name: r.name, generation: r.generation, position: Number(r.position), halted_at: r.halted_at === null ? null : Number(r.halted_at) });
    }
  }

  private ensureListening(): Promise<void> {
    if (this.listener || this.closed) return Promise.resolve();
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'tmi-es-progress' });
      client.on('notification', (msg) => {
        const report = decodeProgress(msg.payload ?? '');
        if (report) this.record(report);
      });
      const lost = (err?: Error) => {
        if (this.listener !== client) return;
        this.log.warn({ err }, 'projection progress listener lost; polling until it reconnects');
        this.listener = null;
        // NOTIFYs sent meanwhile are lost, a rebuild's among them: what is cached can no longer be trusted.
        this.known.clear();
      };
      client.on('error', lost);
      client.on('end', () => { if (!this.closed) lost(); });
      try {
        await client.connect();
        await client.query(`listen ${PROGRESS_CHANNEL}`);
        this.listener = client;
      } catch (err) {
        this.log.warn({ err }, 'projection progress listener unavailable; polling');
        await client.end().catch(() => {});
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  // NOTIFYs can be missed while the listener reconnects; a slow poll keeps waiters honest. It
  // also sends the wake-ups again: a projection may have settled just below the position (an
  // older transaction held the horizon) with nothing of its own left to wake it.
  private ensurePolling(): void {
    if (this.poller) return;
    this.poller = setInterval(() => {
      if (this.waiters.size === 0) {
        clearInterval(this.poller!);
        this.poller = null;
        return;
      }
      const names = [...new Set([...this.waiters].flatMap((w) => w.names))];
      this.refresh(names).then(() => {
        const behind = [...new Set([...this.waiters].flatMap((w) => w.names.filter((n) => (this.known.get(n)?.position ?? 0) < w.position)))];
        if (behind.length > 0) this.wakeups?.wake(behind);
      }).catch(() => {});
      if (!this.listener) void this.ensureListening();
    }, 250);
    this.poller.unref();
  }
}
