import type { Pool } from 'pg';
import { projections } from '../../src/projections/registry.js';
import { pollUntil } from '../helpers/eventually.js';

/** The projections whose checkpoint has not passed the last event of a type they handle, or that are halted. */
export async function projectionsBehind(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string; position: string; halted_at: Date | null }>(
    'select name, position, halted_at from projection_checkpoints');
  const behind: string[] = [];
  for (const p of projections) {
    const { rows: [head] } = await pool.query<{ p: string | null }>('select max(position)::text as p from events where type = any($1)', [p.handles]);
    const checkpoint = rows.find((r) => r.name === p.name);
    const last = Number(head!.p ?? 0);
    if (!checkpoint || checkpoint.halted_at !== null || Number(checkpoint.position) < last) behind.push(`${p.name} at ${checkpoint?.position ?? 'none'} of ${last}${checkpoint?.halted_at ? ' (halted)' : ''}`);
  }
  return behind;
}

/**
 * True once every projection has passed the last event of its types and none is halted: the
 * read tables then show everything the event store holds.
 */
export const caughtUp = async (pool: Pool): Promise<boolean> => (await projectionsBehind(pool)).length === 0;

/** Waits until caught up; failing, names the projections still behind. */
export async function awaitCatchUp(pool: Pool, what: string, deadlineMs = 60_000): Promise<void> {
  if (await pollUntil(() => caughtUp(pool), { deadlineMs, everyMs: 250 }) === false) {
    throw new Error(`never happened: ${what}; behind: ${(await projectionsBehind(pool)).join(', ')}`);
  }
}
