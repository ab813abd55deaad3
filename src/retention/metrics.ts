import { Counter, Gauge, type Registry } from 'prom-client';
import type { Sweep, SweepResult } from './sweep.js';

export interface RetentionMetrics {
  record(sweep: Sweep, result: SweepResult): void;
  failed(sweep: Sweep): void;
  ran(): void;
}

/** Counted on the instance whose worker ran the sweep (BullMQ hands each run to one of them). */
export function registerRetentionMetrics(registry: Registry, sweeps: readonly Sweep[]): RetentionMetrics {
  const removed = new Counter({
    name: 'tmi_retention_removed_total',
    help: 'Items the retention sweep removed or expired, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const batches = new Counter({
    name: 'tmi_retention_batches_total',
    help: 'Bounded batches the retention sweep took, by sweep',
    labelNames: ['sweep'] as const,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'tmi_retention_failures_total',
    help: 'Retention sweeps that failed (the next run starts again where this one stopped)',
    labelNames: ['sweep'] as const,
    registers: [registry],
  });
  const itemFailures = new Counter({
    name: 'tmi_retention_item_failures_total',
    help: 'Items a retention sweep failed on and passed over (logged with what they are); the rest of the sweep went on',
    labelNames: ['sweep'] as const,
    registers: [registry],
  });
  const lastRun = new Gauge({
    name: 'tmi_retention_last_run_timestamp_seconds',
    help: 'When this instance last finished a full retention run (not the auth-state sweep; Unix seconds; 0 before the first)',
    registers: [registry],
  });
  // Every series from the start, so a dashboard sees 0 rather than nothing.
  for (const s of sweeps) {
    for (const kind of s.kinds) removed.inc({ kind }, 0);
    batches.inc({ sweep: s.name }, 0);
    failures.inc({ sweep: s.name }, 0);
    itemFailures.inc({ sweep: s.name }, 0);
  }
  lastRun.set(0);
  return {
    record(sweep, result) {
      for (const [kind, n] of Object.entries(result.removed)) if (n) removed.inc({ kind }, n);
      batches.inc({ sweep: sweep.name }, result.batches.length);
      if (result.failed) itemFailures.inc({ sweep: sweep.name }, result.failed);
    },
    failed: (sweep) => failures.inc({ sweep: sweep.name }),
    ran: () => lastRun.set(Date.now() / 1000),
  };
}
