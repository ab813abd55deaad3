import pg from 'pg';
import type { Logger } from 'pino';
import type { QueueBackend } from '../infra/queue.js';
import { PROGRESS_CHANNEL } from './runner.js';

export const PROJECTION_QUEUE = 'tmi-projections';
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
 */
export class ProjectionProgress {
  private readonly positions = new Map<string, number>();
  private listener: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private readonly waiters = new Set<{ names: string[]; position: number; resolve: (ok: boolean) => void }>();
  private poller: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly pool: pg.Pool, private readonly databaseUrl: string, private readonly log: Logger) {}

  /** Resolves true once every named projection has passed `position`, false after the timeout. */
  async waitFor(names: readonly string[], position: number, timeoutMs: number): Promise<boolean> {
    if (names.length === 0 || this.reached(names, position)) return true;
    await this.ensureListening();
    await this.refresh(names);
    if (this.reached(names, position)) return true;
    if (timeoutMs <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const waiter = {
        names: [...names],
        position,
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
    return names.every((n) => (this.positions.get(n) ?? 0) >= position);
  }

  private record(name: string, position: number): void {
    if (position > (this.positions.get(name) ?? 0)) this.positions.set(name, position);
    for (const w of [...this.waiters]) if (this.reached(w.names, w.position)) w.resolve(true);
  }

  private async refresh(names: readonly string[]): Promise<void> {
    const { rows } = await this.pool.query<{ name: string; position: number }>(
      'select name, position from projection_checkpoints where name = any($1)', [names]);
    for (const r of rows) this.record(r.name, Number(r.position));
  }

  private ensureListening(): Promise<void> {
    if (this.listener || this.closed) return Promise.resolve();
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'tmi-es-progress' });
      client.on('notification', (msg) => {
        const [name, pos] = (msg.payload ?? '').split(':');
        if (name && pos) this.record(name, Number(pos));
      });
      client.on('error', (err) => {
        this.log.warn({ err }, 'projection progress listener lost; polling until it reconnects');
        this.listener = null;
        this.connecting = null;
      });
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

  // NOTIFYs can be missed while the listener reconnects; a slow poll keeps waiters honest.
  private ensurePolling(): void {
    if (this.poller) return;
    this.poller = setInterval(() => {
      if (this.waiters.size === 0) {
        clearInterval(this.poller!);
        this.poller = null;
        return;
      }
      const names = [...new Set([...this.waiters].flatMap((w) => w.names))];
      this.refresh(names).catch(() => {});
      if (!this.listener) void this.ensureListening();
    }, 250);
    this.poller.unref();
  }
}
