import type { Pool } from 'pg';
import type { Projection } from './projection.js';
import { projectionStatuses } from './status.js';

export interface LagSample {
  at: string;
  projections: { name: string; position: number; lag_events: number; lag_seconds: number; halted: boolean }[];
}

/**
 * Each projection's lag, read every `intervalMs` from the first request for it on, and kept for
 * the last `keep` readings, so an operator coming back to the console sees the hour since.
 * Per instance and in memory: it is a view for people, the checkpoints stay the truth.
 */
export class LagHistory {
  private readonly samples: LagSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private reading: Promise<void> | null = null;

  constructor(
    private readonly pool: Pool,
    private readonly list: readonly Projection[],
    private readonly options: { intervalMs: number; keep: number },
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Starts the readings (once); resolves when the first one is in. */
  async start(): Promise<void> {
    if (!this.timer) {
      this.timer = setInterval(() => void this.read(), this.options.intervalMs);
      this.timer.unref();
      await this.read();
    }
  }

  /** Stops reading; a reading in flight is waited for, so nothing queries a pool being closed. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.reading;
  }

  history(): readonly LagSample[] {
    return this.samples;
  }

  private read(): Promise<void> {
    // A slow database must not pile readings up behind each other.
    if (this.reading) return this.reading;
    this.reading = projectionStatuses(this.pool, this.list)
      .then((statuses) => {
        this.samples.push({
          at: new Date().toISOString(),
          projections: statuses.map((s) => ({ name: s.name, position: s.position, lag_events: s.lag_events, lag_seconds: s.lag_seconds, halted: s.halted })),
        });
        if (this.samples.length > this.options.keep) this.samples.splice(0, this.samples.length - this.options.keep);
      })
      .catch(this.onError)
      .finally(() => { this.reading = null; });
    return this.reading;
  }
}
