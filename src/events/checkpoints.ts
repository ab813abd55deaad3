import type { Pool } from 'pg';
import { withTransaction } from '../infra/database.js';
import { DECLARE_NON_APPENDING_EXPRESSION, SAFE_HORIZON_SQL } from './position.js';

/** Most events one checkpoint digests: its string_agg stays a few MB and its transaction short. */
export const MAX_EVENTS_PER_CHECKPOINT = 100_000;

export interface ChainCheckpoint {
  id: number;
  after_position: number;
  through_position: number;
  event_count: number;
  digest: string;
  created_at: Date;
}

/** The advisory lock checkpoint writers take turns on (one chain of checkpoints, one writer at a time). */
const CHECKPOINT_LOCK_SQL = `pg_advisory_xact_lock(hashtext('tmi-es:event_chain_checkpoints'))`;

/**
 * The next checkpoint: sha256(previous digest ‖ the hashes of the events after the previous
 * checkpoint, in position order), up to `$1` events, all below the safe horizon (read in the same
 * statement) so no transaction can still add an event to the range it seals. Nothing is written
 * when no settled event is new.
 */
const WRITE_CHECKPOINT_SQL = `
with last as (select through_position, digest from event_chain_checkpoints order by id desc limit 1),
prev as (select coalesce((select through_position from last), 0) as after, coalesce((select digest from last), ''::bytea) as digest),
horizon as (select ${SAFE_HORIZON_SQL} as h),
sealed as (
  select e.position, e.hash from events e, prev, horizon
  where e.position > prev.after and e.position < horizon.h
  order by e.position limit $1
),
agg as (select count(*)::int as n, max(position) as through, string_agg(hash, ''::bytea order by position) as hashes from sealed)
insert into event_chain_checkpoints (after_position, through_position, event_count, digest)
select prev.after, agg.through, agg.n, sha256(prev.digest || agg.hashes) from agg, prev where agg.n > 0
returning id, after_position, through_position, event_count, encode(digest, 'hex') as digest, created_at`;

/**
 * Writes one checkpoint, or none when no settled event is past the last one. Its transaction
 * declares itself non-appending first (src/events/position.ts), so appends and readers never wait
 * for it, and holds the advisory lock, so two writers never both extend the chain from one digest.
 */
export async function writeCheckpoint(pool: Pool, maxEvents = MAX_EVENTS_PER_CHECKPOINT): Promise<ChainCheckpoint | null> {
  return withTransaction(pool, async (client) => {
    await client.query(`select ${DECLARE_NON_APPENDING_EXPRESSION}, ${CHECKPOINT_LOCK_SQL}`);
    const { rows } = await client.query<ChainCheckpoint>(WRITE_CHECKPOINT_SQL, [maxEvents]);
    return rows[0] ? { ...rows[0], after_position: Number(rows[0].after_position), through_position: Number(rows[0].through_position), id: Number(rows[0].id) } : null;
  });
}

/** Checkpoints until every settled event is covered (each bounded, each its own transaction); the ones written. */
export async function checkpointSettledEvents(pool: Pool, maxEvents = MAX_EVENTS_PER_CHECKPOINT): Promise<ChainCheckpoint[]> {
  const written: ChainCheckpoint[] = [];
  for (;;) {
    const checkpoint = await writeCheckpoint(pool, maxEvents);
    if (checkpoint) written.push(checkpoint);
    if (!checkpoint || checkpoint.event_count < maxEvents) return written;
  }
}
