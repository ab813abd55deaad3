import { Gauge, type Registry } from 'prom-client';
import type { Pool } from 'pg';
import type { Projection } from './projection.js';
import { projectionStatuses, type ProjectionStatus } from './status.js';

/** Projection gauges, read from PostgreSQL at scrape time so they are right whichever process runs the projectors. */
export function registerProjectionMetrics(registry: Registry, pool: Pool, list: readonly Projection[]): void {
  // One status query per scrape, shared by all gauges.
  let cached: { at: number; statuses: Promise<ProjectionStatus[] | null> } | null = null;
  const statuses = () => {
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), statuses: projectionStatuses(pool, list).catch(() => null) };
    return cached.statuses;
  };
  const gauge = (name: string, help: string, value: (s: ProjectionStatus) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['projection'] as const,
      registers: [registry],
      async collect() {
        const now = await statuses();
        // Unreadable (PostgreSQL down): no series rather than the last ones, which would show a stale lag (0) as current.
        this.reset();
        for (const s of now ?? []) this.set({ projection: s.name }, value(s));
      },
    });
  gauge('tmi_projection_position', 'Global position a projection has reached', (s) => s.position);
  gauge('tmi_projection_lag_events', 'Handled events not yet applied', (s) => s.lag_events);
  gauge('tmi_projection_lag_seconds', 'Age of the oldest event not yet applied', (s) => s.lag_seconds);
  gauge('tmi_projection_dead_letters', 'Pending dead letters', (s) => s.dead_letters);
  gauge('tmi_projection_halted', '1 when a projection is halted on a poison event', (s) => (s.halted ? 1 : 0));
  gauge('tmi_projection_rebuild_pending', '1 while this code\'s version is built beside older live tables, which move only while workers of their version run',
    (s) => (s.rebuild_pending ? 1 : 0));
  gauge('tmi_projection_rebuild_failures', 'Failed tries in a row of the pending background rebuild', (s) => s.rebuild_failures);
}
