import type { PoolClient } from 'pg';
import type { StoredEvent } from '../events/types.js';
import type { ProviderIdentityLinked, UserLoggedIn, UserProfileUpdated, UserRegistered } from '../commands/users/events.js';
import { groupUuid } from '../auth/groups.js';
import { ADMINISTRATORS, SECURITY_REVIEWERS } from '../commands/caller.js';
import type { Projection } from './projection.js';

export const USERS_PROJECTION = 'users';

const userIdOf = (event: StoredEvent) => event.stream_id.slice('user-'.length);

/** `users`, `user_providers` and group memberships (as last asserted at login), from the user and identity streams. */
export const usersProjection: Projection = {
  name: USERS_PROJECTION,
  version: 1,
  handles: ['UserRegistered', 'UserProfileUpdated', 'UserLoggedIn', 'UserDeleted', 'ProviderIdentityLinked'],
  tables: ['users', 'user_providers', 'user_group_memberships'],
  onPoison: 'halt',
  async apply(event: StoredEvent, client: PoolClient) {
    const at = event.created_at;
    switch (event.type) {
      case 'UserRegistered': {
        const d = event.data as UserRegistered;
        await client.query(
          `insert into users (internal_uuid, provider, provider_user_id, email, name, email_verified, created_at, modified_at)
           values ($1, $2, $3, $4, $5, $6, $7, $7) on conflict (internal_uuid) do nothing`,
          [d.user_id, d.provider, d.provider_user_id, d.email, d.name, d.email_verified, at]);
        return;
      }
      case 'UserProfileUpdated': {
        const d = event.data as UserProfileUpdated;
        await client.query(
          `update users set email = coalesce($2, email), name = coalesce($3, name), email_verified = coalesce($4, email_verified), modified_at = $5 where internal_uuid = $1`,
          [userIdOf(event), d.email ?? null, d.name ?? null, d.email_verified ?? null, at]);
        if (d.email) await client.query('update user_providers set email = $2 where user_internal_uuid = $1', [userIdOf(event), d.email]);
        return;
      }
      case 'UserLoggedIn': {
        const d = event.data as UserLoggedIn;
        const userId = userIdOf(event);
        await client.query(
          'update users set groups = $2, is_admin = $3, is_security_reviewer = $4, last_login = $5 where internal_uuid = $1',
          [userId, d.groups, d.is_admin, d.is_security_reviewer, at]);
        await client.query('update user_providers set last_login = $2 where user_internal_uuid = $1', [userId, at]);
        const memberships: [string, string][] = d.groups.map((g) => [d.provider, g]);
        if (d.is_admin) memberships.push(['tmi', ADMINISTRATORS]);
        if (d.is_security_reviewer) memberships.push(['tmi', SECURITY_REVIEWERS]);
        await client.query('delete from user_group_memberships where user_internal_uuid = $1 and not (group_uuid = any($2::uuid[]))',
          [userId, memberships.map(([p, g]) => groupUuid(p, g))]);
        for (const [provider, group] of memberships) {
          await client.query(
            `insert into user_group_memberships (user_internal_uuid, group_uuid, provider, group_name, added_at) values ($1, $2, $3, $4, $5)
             on conflict do nothing`, [userId, groupUuid(provider, group), provider, group, at]);
        }
        return;
      }
      case 'UserDeleted': {
        const userId = userIdOf(event);
        await client.query('delete from user_group_memberships where user_internal_uuid = $1', [userId]);
        await client.query('delete from user_providers where user_internal_uuid = $1', [userId]);
        await client.query('delete from users where internal_uuid = $1', [userId]);
        return;
      }
      case 'ProviderIdentityLinked': {
        const d = event.data as ProviderIdentityLinked;
        // A re-registration after deletion points the identity at the new user.
        await client.query(
          `insert into user_providers (provider, provider_user_id, user_internal_uuid, email, is_primary, created_at) values ($1, $2, $3, $4, $5, $6)
           on conflict (provider, provider_user_id) do update set user_internal_uuid = excluded.user_internal_uuid, email = excluded.email, is_primary = excluded.is_primary`,
          [d.provider, d.provider_user_id, d.user_id, d.email, d.primary, at]);
        return;
      }
    }
  },
};
