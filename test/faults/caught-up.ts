import type { Pool } from 'pg';
import { projections } from '../../src/projections/registry.js';

/**
 * True once every projection's checkpoint has passed the last event and none is halted: what
 * the read tables show is then everything the event store holds.
 */
export async function caughtUp(pool: Pool): Promise<boolean> {
  const { rows } = await pool.query<{ name: string; position: string; halted_at: Date | null }>(
    'select name, position, halted_at from projection_checkpoints');
  const { rows: [head] } = await pool.query<{ p: string | null }>('select max(position)::text as p from events');
  const last = Number(head!.p ?? 0);
  return projections.every((p) => rows.some((r) => r.name === p.name && r.halted_at === null && Number(r.position) >= last));
}
