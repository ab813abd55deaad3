import type { Pool } from 'pg';
import { ANY_PROVIDER } from '../commands/threat-models/authorization.js';
import type { Authorization, User } from '../commands/threat-models/values.js';
import { displayNameOf } from '../commands/users/display-name.js';

/**
 * Full users (display name and email) for user entries of an access list, which may carry only
 * a provider id: from the users read table, matching the provider's id — or the email, when the
 * user's provider verified it (as access matching does) — as entries may name a user. Only users
 * who have signed in at least once are known here. The result keeps each entry's provider and provider id, so it names the same
 * subject as the entry. Entries no known user answers to are left out.
 */
export async function usersForEntries(pool: Pool, entries: readonly Authorization[]): Promise<User[]> {
  const users = entries.filter((e) => e.principal_type === 'user');
  if (users.length === 0) return [];
  const { rows } = await pool.query<{ provider: string; provider_user_id: string; email: string; name: string; email_verified: boolean }>(
    `select provider, provider_user_id, email, name, email_verified from users
     where lower(provider_user_id) = any($1::text[]) or (lower(email) = any($1::text[]) and email_verified)`,
    [users.map((e) => e.provider_id.toLowerCase())]);
  const out: User[] = [];
  for (const entry of users) {
    const id = entry.provider_id.toLowerCase();
    const known = rows.find((r) => (entry.provider === ANY_PROVIDER || r.provider === entry.provider)
      && (r.provider_user_id.toLowerCase() === id || (r.email_verified && r.email.toLowerCase() === id)));
    if (!known) continue;
    out.push({ principal_type: 'user', provider: entry.provider, provider_id: entry.provider_id, display_name: displayNameOf(known.name, known.email), email: known.email });
  }
  return out;
}
