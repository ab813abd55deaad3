import { inBatches, type Sweep } from './sweep.js';

export const IDEMPOTENCY_KIND = 'idempotency_key';

const DELETE_OLD = `
delete from command_results where command_id = any(array(
  select command_id from command_results where created_at < now() - make_interval(secs => $2)
  order by created_at limit $1 for update skip locked))`;

/**
 * Idempotency keys older than `retention.idempotency_seconds`. A key is answered from its
 * `command_results` row (src/events/store.ts): while the row exists a resend replays and appends
 * nothing; once it is gone the key counts as new. So a resend is never applied twice within the
 * window (counted from the first request's commit), and may be after it — the window is the
 * promise, documented as such. The events themselves keep their `command_id` in their metadata.
 * No events: forgetting a key changes no fact.
 */
export const idempotencySweep: Sweep = {
  name: 'idempotency',
  kinds: [IDEMPOTENCY_KIND],
  async run({ pool, config }) {
    const batches = await inBatches(config.batch_size, async (limit) =>
      (await pool.query(DELETE_OLD, [limit, config.idempotency_seconds])).rowCount ?? 0);
    return { removed: { [IDEMPOTENCY_KIND]: batches.reduce((a, b) => a + b, 0) }, batches };
  },
};
