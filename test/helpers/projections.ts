import type { PoolClient } from 'pg';
import type { StoredEvent } from '../../src/events/types.js';
import type { Projection } from '../../src/projections/projection.js';
import type { ProjectionRunner } from '../../src/projections/runner.js';

/**
 * Sums CounterIncremented per stream into `<name>_totals`, for streams named `<name>:...` only, so
 * tests sharing one database do not see each other's events; `by: 13` is poison unless `cured`.
 */
export function counterTotals(name: string, onPoison: 'halt' | 'skip', state = { cured: false }): Projection {
  return {
    name,
    version: 1,
    handles: ['CounterIncremented'],
    tables: [`${name}_totals`],
    onPoison,
    async apply(event: StoredEvent, client: PoolClient) {
      if (!event.stream_id.startsWith(`${name}:`)) return;
      const { by } = event.data as { by: number };
      if (by === 13 && !state.cured) throw new Error('unlucky number');
      await client.query(
        `insert into ${name}_totals (stream_id, total, applied) values ($1, $2, 1)
         on conflict (stream_id) do update set total = ${name}_totals.total + excluded.total, applied = ${name}_totals.applied + 1`,
        [event.stream_id, by]);
    },
  };
}

export const counterTable = (name: string): string =>
  `create table ${name}_totals (stream_id text primary key, total int not null, applied int not null)`;

/**
 * Runs a projection until it has passed `position` (or halted). Events become readable only
 * once every older transaction in the cluster has finished, and other test files write to the
 * same cluster, so one catch-up right after an append may legitimately find nothing yet.
 */
export async function settle(runner: ProjectionRunner, p: Projection, position: number) {
  for (let i = 0; i < 1000; i++) {
    const r = await runner.catchUp(p);
    if (r.halted || r.position >= position) return r;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${p.name} did not reach ${position}`);
}
