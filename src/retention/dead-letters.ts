import type { NewEvent, StreamAppend } from '../events/types.js';
import { withTransaction } from '../infra/database.js';
import { DEAD_LETTER_STREAM_TYPE, deadLetterStreamId, type DeadLetterRemoved } from './events.js';
import { transientDatabaseError } from '../infra/database-errors.js';
import { inBatches, onItsOwn, tally, type Sweep, type SweepContext, type SweepResult } from './sweep.js';

export const DEAD_LETTER_KINDS = { resolved: 'dead_letter_resolved', skipped: 'dead_letter_skipped' } as const;

interface RemovedRow { id: string; projection: string; event_id: string; event_position: string; event_type: string; error: string; attempts: number; status: 'resolved' | 'skipped'; updated_at: Date }

// Pending letters are never touched: they are work an operator still has to decide on. Taken in
// id order after `$3`, the run's keyset position, so a letter passed over stays behind it.
const OLD = `status in ('resolved', 'skipped') and updated_at < now() - make_interval(secs => $2) and id > $3::bigint`;
// `$4`, when given, is the one letter to take (the one-at-a-time retry): none other stands in for it.
const DELETE_OLD = `
delete from dead_letters where id = any(array(
  select id from dead_letters where ${OLD} and ($4::bigint is null or id = $4::bigint) order by id limit $1 for update skip locked))
returning id, projection, event_id, event_position, event_type, error, attempts, status, updated_at`;
const OLD_IDS = `select id from dead_letters where ${OLD} order by id limit $1`;

/** One batch after `after` (or only letter `only`): the rows and the events recording the skipped ones commit together, or neither does. */
async function removeBatch({ pool, store, config, metadata }: SweepContext, limit: number, after: string, result: SweepResult, only: string | null = null): Promise<RemovedRow[]> {
  const rows = await withTransaction(pool, async (client) => {
    const { rows } = await client.query<RemovedRow>(DELETE_OLD, [limit, config.dead_letter_seconds, after, only]);
    const appends: StreamAppend[] = rows.filter((r) => r.status === 'skipped').map((r) => {
      const data: DeadLetterRemoved = {
        projection: r.projection, event_id: r.event_id, event_position: Number(r.event_position), event_type: r.event_type,
        error: r.error, attempts: r.attempts, skipped_at: r.updated_at.toISOString(),
      };
      const event: NewEvent = { type: 'DeadLetterRemoved', data };
      return { stream_id: deadLetterStreamId(r.projection, r.event_id), stream_type: DEAD_LETTER_STREAM_TYPE, expected: 'any', events: [event] };
    });
    if (appends.length > 0) await store.appendToStreams(appends, { metadata, client });
    return rows;
  });
  for (const r of rows) tally(result.removed, DEAD_LETTER_KINDS[r.status]);
  return rows;
}

const maxId = (ids: readonly string[]): string => ids.reduce((m, id) => (BigInt(id) > BigInt(m) ? id : m));
const before = (id: string): string => (BigInt(id) - 1n).toString();

/**
 * Resolved and skipped dead letters older than `retention.dead_letter_seconds` (since they were
 * resolved or skipped). A skipped one is recorded as DeadLetterRemoved first, in the same
 * transaction: its row was the only trace that a projection's table lacks that event. A letter
 * whose record the store refuses fails its whole batch: that batch is taken again one letter at a
 * time, so only the failing one is passed over (onItsOwn) and stays for an operator.
 */
export const deadLetterSweep: Sweep = {
  name: 'dead_letters',
  kinds: Object.values(DEAD_LETTER_KINDS),
  async run(context) {
    const result: SweepResult = { removed: {}, batches: [] };
    let after = '0';
    result.batches = await inBatches(context.config.batch_size, async (limit) => {
      try {
        const rows = await removeBatch(context, limit, after, result);
        if (rows.length > 0) after = maxId(rows.map((r) => r.id));
        return rows.length;
      } catch (err) {
        if (transientDatabaseError(err) !== null) throw err;
        const { rows } = await context.pool.query<{ id: string }>(OLD_IDS, [limit, context.config.dead_letter_seconds, after]);
        for (const { id } of rows) {
          await onItsOwn(context, result, { dead_letter_id: id }, async () => { await removeBatch(context, 1, before(id), result, id); });
          after = id;
        }
        return rows.length;
      }
    });
    return result;
  },
};
