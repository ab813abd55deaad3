import type { AccessTokenRevoked, UserEvent, UserLoggedIn } from './events.js';
import { UserNotFoundError } from './errors.js';
import type { UserState } from './state.js';
import { sameValue } from '../same-value.js';

export interface IdentityClaims {
  provider: string;
  provider_user_id: string;
  email: string;
  name: string;
  email_verified: boolean;
}

export type UserCommand =
  | { type: 'RecordLogin'; user_id: string; identity: IdentityClaims; login: UserLoggedIn }
  | { type: 'ReplacePreferences'; preferences: Record<string, unknown> }
  | { type: 'RevokeAccessToken'; revocation: AccessTokenRevoked }
  | { type: 'DeleteUser'; reason: string };

function profileChanges(state: UserState, identity: IdentityClaims) {
  const changes: { email?: string; name?: string; email_verified?: boolean } = {};
  if (identity.email !== state.email) changes.email = identity.email;
  if (identity.name !== state.name) changes.name = identity.name;
  if (identity.email_verified !== state.email_verified) changes.email_verified = identity.email_verified;
  return changes;
}

/** Pure decisions about one user; the identity-provider profile is refreshed at each login. */
export function decideUser(command: UserCommand, state: UserState): UserEvent[] {
  switch (command.type) {
    case 'RecordLogin': {
      const events: UserEvent[] = [];
      if (state.status !== 'active') {
        const { provider, provider_user_id, email, name, email_verified } = command.identity;
        events.push({ type: 'UserRegistered', data: { user_id: command.user_id, provider, provider_user_id, email, name, email_verified } });
      } else {
        const changes = profileChanges(state, command.identity);
        if (Object.keys(changes).length > 0) events.push({ type: 'UserProfileUpdated', data: changes });
      }
      events.push({ type: 'UserLoggedIn', data: command.login });
      return events;
    }
    case 'ReplacePreferences':
      if (state.status !== 'active') throw new UserNotFoundError(state.user_id);
      if (sameValue(state.preferences, command.preferences)) return [];
      return [{ type: 'UserPreferencesReplaced', data: { preferences: command.preferences } }];
    case 'RevokeAccessToken':
      return [{ type: 'AccessTokenRevoked', data: command.revocation }];
    case 'DeleteUser':
      if (state.status !== 'active') throw new UserNotFoundError(state.user_id);
      return [{ type: 'UserDeleted', data: { reason: command.reason } }];
  }
}
