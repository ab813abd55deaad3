import { RefreshTokens } from '../auth/refresh-tokens.js';
import { familyIdOfStream } from '../commands/tokens/events.js';
import { inBatches, onItsOwn, type Sweep, type SweepContext, type SweepResult } from './sweep.js';

export const TOKEN_FAMILY_KIND = 'refresh_token_family';
const CURSOR = 'token_families';

// Families whose session ended, in the order they ended, after where the last run stopped
// (index events_token_families_by_expiry, db/migrations/0033).
const ENDED_AFTER = `
select stream_id, (data->>'session_expires_at')::bigint as ends
from events
where type = 'RefreshTokenIssued'
  and ((data->>'session_expires_at')::bigint, stream_id) > ($1::bigint, $2::text)
  and (data->>'session_expires_at')::bigint <= $3
order by (data->>'session_expires_at')::bigint, stream_id
limit $4`;

// Never backwards: a slower run of another instance does not undo a faster one's progress.
const ADVANCE = `
insert into retention_cursors (kind, at, id) values ($1, $2, $3)
on conflict (kind) do update set at = excluded.at, id = excluded.id, updated_at = now()
where (retention_cursors.at, retention_cursors.id) < (excluded.at, excluded.id)`;

async function cursor(context: SweepContext): Promise<{ at: number; id: string }> {
  const { rows } = await context.pool.query<{ at: string; id: string }>('select at, id from retention_cursors where kind = $1', [CURSOR]);
  return rows[0] ? { at: Number(rows[0].at), id: rows[0].id } : { at: 0, id: '' };
}

/**
 * Refresh-token families whose absolute session has ended get TokenFamilyExpired: the family's
 * stream is the record (nothing else holds its tokens, spent or current), and an auditor asking
 * "when did this sign-in's session end, and was it revoked first?" finds the answer there.
 * Revoked families are left alone (they ended with their own event). Each family's decider decides
 * against its stream, so two instances expiring the same family append one event between them.
 */
export const tokenFamilySweep: Sweep = {
  name: 'token_families',
  kinds: [TOKEN_FAMILY_KIND],
  async run(context) {
    const tokens = new RefreshTokens(context.store, context.refreshSessionSeconds);
    const now = Math.floor(Date.now() / 1000);
    const result: SweepResult = { removed: {}, batches: [] };
    let from = await cursor(context);
    let expired = 0;
    result.batches = await inBatches(context.config.batch_size, async (limit) => {
      const { rows } = await context.pool.query<{ stream_id: string; ends: string }>(ENDED_AFTER, [from.at, from.id, now, limit]);
      for (const r of rows) {
        // Passed over for good (the cursor moves past it): only the record of its end is missing, its tokens are refused past the session's end anyway.
        await onItsOwn(context, result, { stream_id: r.stream_id }, async () => {
          if (await tokens.expire(familyIdOfStream(r.stream_id), context.metadata, now)) expired++;
        });
      }
      const last = rows[rows.length - 1];
      if (last) {
        from = { at: Number(last.ends), id: last.stream_id };
        await context.pool.query(ADVANCE, [CURSOR, from.at, from.id]);
      }
      return rows.length;
    });
    result.removed[TOKEN_FAMILY_KIND] = expired;
    return result;
  },
};
