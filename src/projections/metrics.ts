import { Gauge, type Registry } from 'prom-client';
import type { Pool } from 'pg';
import type { Projection } from './projection.js';
import { projectionStatuses } from './status.js';

/** Projection gauges, read from PostgreSQL at scrape time so they are right whichever process runs the projectors. */
export function registerProjectionMetrics(registry: Registry, pool: Pool, list: readonly Projection[]): void {
  const labelNames = ['projection'] as const;
  const position = new Gauge({ name: 'tmi_projection_position', help: 'Global position a projection has reached', labelNames, registers: [registry] });
  const lagEvents = new Gauge({ name: 'tmi_projection_lag_events', help: 'Handled events not yet applied', labelNames, registers: [registry] });
  const lagSeconds = new Gauge({ name: 'tmi_projection_lag_seconds', help: 'Age of the oldest event not yet applied', labelNames, registers: [registry] });
  const deadLetters = new Gauge({ name: 'tmi_projection_dead_letters', help: 'Pending dead letters', labelNames, registers: [registry] });
  const halted = new Gauge({
    name: 'tmi_projection_halted',
    help: '1 when a projection is halted on a poison event',
    labelNames,
    registers: [registry],
    async collect() {
      const statuses = await projectionStatuses(pool, list).catch(() => []);
      for (const s of statuses) {
        const labels = { projection: s.name };
        position.set(labels, s.position);
        lagEvents.set(labels, s.lag_events);
        lagSeconds.set(labels, s.lag_seconds);
        deadLetters.set(labels, s.dead_letters);
        this.set(labels, s.halted ? 1 : 0);
      }
    },
  });
  void halted;
}
