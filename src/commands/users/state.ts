import type { UserEvent } from './events.js';

export interface UserState {
  status: 'none' | 'active' | 'deleted';
  user_id: string;
  provider: string;
  provider_user_id: string;
  email: string;
  name: string;
  email_verified: boolean;
  groups: string[];
  is_admin: boolean;
  is_security_reviewer: boolean;
  preferences: Record<string, unknown>;
}

/**
 * The version of UserState's shape and of what evolveUser makes of each event. Snapshots of user
 * streams are keyed by it: bump it with any change to either, or snapshots taken by the old code
 * would be folded on as if the new code had made them (docs/architecture.md, "Snapshots").
 */
export const USER_STATE_VERSION = 1;

export const initialUserState = (): UserState => ({
  status: 'none', user_id: '', provider: '', provider_user_id: '', email: '', name: '', email_verified: false,
  groups: [], is_admin: false, is_security_reviewer: false, preferences: {},
});

export function evolveUser(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserRegistered':
      return { ...initialUserState(), status: 'active', ...event.data };
    case 'UserProfileUpdated':
      return { ...state, ...event.data };
    case 'UserLoggedIn':
      return { ...state, groups: event.data.groups, is_admin: event.data.is_admin, is_security_reviewer: event.data.is_security_reviewer };
    case 'UserPreferencesReplaced':
      return { ...state, preferences: event.data.preferences };
    case 'UserDeleted':
      return { ...state, status: 'deleted' };
    case 'AccessTokenRevoked':
      return state;
    default:
      return state;
  }
}

/** The state after a stream's events; unknown event types are ignored so the stream can grow new facts. */
export const foldUser = (events: readonly { type: string; data: unknown }[]): UserState =>
  events.reduce((s, e) => evolveUser(s, e as UserEvent), initialUserState());
