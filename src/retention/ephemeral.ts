import { inBatches, tally, type Sweep, type SweepResult } from './sweep.js';

/** What each key prefix of the short-lived auth state holds (src/auth/ephemeral.ts and its users), as metric kinds. */
const KINDS: Record<string, string> = {
  'oauth-state': 'oauth_state',
  'oauth-code': 'oauth_code',
  'ws-ticket': 'ws_ticket',
  'cc-failures': 'client_credential_lockout',
  'delete-challenge': 'deletion_challenge',
};
const OTHER = 'auth_ephemeral_other';

const kindOf = (key: string): string => KINDS[key.slice(0, key.indexOf(':'))] ?? OTHER;

// Locked rows are skipped, not waited for: another sweeper has them, or a request is reusing an
// expired key (putNew's upsert), which re-checks the expiry and keeps the row out of this batch.
const DELETE_EXPIRED = `
delete from auth_ephemeral where key = any(array(
  select key from auth_ephemeral where expires_at < now() order by expires_at limit $1 for update skip locked))
returning key`;

/**
 * OAuth states and codes, WebSocket tickets, lockout counters and deletion challenges past their
 * expiry, in PostgreSQL mode (with Redis they expire by their TTL there and this finds nothing).
 * Every read ignores an expired row already; removing it only returns the space. No events: a
 * state or ticket nobody used says nothing an auditor needs (the sign-in or the session is recorded).
 */
export const ephemeralSweep: Sweep = {
  name: 'auth_ephemeral',
  kinds: [...Object.values(KINDS), OTHER],
  async run({ pool, config }) {
    const result: SweepResult = { removed: {}, batches: [] };
    result.batches = await inBatches(config.batch_size, async (limit) => {
      const { rows } = await pool.query<{ key: string }>(DELETE_EXPIRED, [limit]);
      for (const r of rows) tally(result.removed, kindOf(r.key));
      return rows.length;
    });
    return result;
  },
};
