import type { NewEvent, StreamAppend } from '../events/types.js';
import { withTransaction } from '../infra/database.js';
import { DEAD_LETTER_STREAM_TYPE, deadLetterStreamId, type DeadLetterRemoved } from './events.js';
import { inBatches, tally, type Sweep, type SweepContext, type SweepResult } from './sweep.js';

export const DEAD_LETTER_KINDS = { resolved: 'dead_letter_resolved', skipped: 'dead_letter_skipped' } as const;

interface RemovedRow { projection: string; event_id: string; event_position: string; event_type: string; error: string; attempts: number; status: 'resolved' | 'skipped'; updated_at: Date }

// Pending letters are never touched: they are work an operator still has to decide on.
const DELETE_OLD = `
delete from dead_letters where id = any(array(
  select id from dead_letters where status in ('resolved', 'skipped') and updated_at < now() - make_interval(secs => $2)
  order by id limit $1 for update skip locked))
returning projection, event_id, event_position, event_type, error, attempts, status, updated_at`;

/** One batch: the rows and the events recording the skipped ones commit together, or neither does. */
async function removeBatch({ pool, store, config, metadata }: SweepContext, limit: number, result: SweepResult): Promise<number> {
  const rows = await withTransaction(pool, async (client) => {
    const { rows } = await client.query<RemovedRow>(DELETE_OLD, [limit, config.dead_letter_seconds]);
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
  return rows.length;
}

/**
 * Resolved and skipped dead letters older than `retention.dead_letter_seconds` (since they were
 * resolved or skipped). A skipped one is recorded as DeadLetterRemoved first, in the same
 * transaction: its row was the only trace that a projection's table lacks that event.
 */
export const deadLetterSweep: Sweep = {
  name: 'dead_letters',
  kinds: Object.values(DEAD_LETTER_KINDS),
  async run(context) {
    const result: SweepResult = { removed: {}, batches: [] };
    result.batches = await inBatches(context.config.batch_size, (limit) => removeBatch(context, limit, result));
    return result;
  },
};
