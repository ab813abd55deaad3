import { randomUUID } from 'node:crypto';
import { decideAndAppend, loadAggregate, type Decider, type LoadedAggregate } from '../application/execute-command.js';
import { snapshotAfterAppend } from '../application/snapshots.js';
import type { Config } from '../config/schema.js';
import { VersionConflictError } from '../events/errors.js';
import type { EventStore } from '../events/store.js';
import type { EventMetadata, StreamAppend } from '../events/types.js';
import { decideUser, type UserCommand } from '../commands/users/decide.js';
import { IDENTITY_STREAM_TYPE, USER_STREAM_TYPE, identityStreamId, userStreamId, type ProviderIdentityLinked, type UserEvent } from '../commands/users/events.js';
import { USER_STATE_VERSION, evolveUser, initialUserState, type UserState } from '../commands/users/state.js';
import { ADMINISTRATORS, SECURITY_REVIEWERS } from '../commands/caller.js';
import type { Principal } from './principal.js';
import type { ProviderIdentity } from './providers.js';

export type PrincipalClaims = Omit<Principal, 'jti' | 'exp'>;


/** Role grants from configuration: `{provider, subject | email}` entries; an email grants only when the provider verified it. */
function listed(entries: { provider: string; subject?: string; email?: string }[], provider: string, identity: { provider_user_id: string; email: string; email_verified: boolean }): boolean {
  return entries.some((e) => e.provider === provider && (
    (e.subject !== undefined && e.subject === identity.provider_user_id)
    || (e.email !== undefined && identity.email_verified && e.email.toLowerCase() === identity.email.toLowerCase())));
}

export function principalClaims(user: UserState): PrincipalClaims {
  const groups = [...user.groups];
  if (user.is_admin) groups.push(ADMINISTRATORS);
  if (user.is_security_reviewer) groups.push(SECURITY_REVIEWERS);
  return {
    user_id: user.user_id,
    provider: user.provider,
    provider_id: user.provider_user_id,
    email: user.email,
    email_verified: user.email_verified,
    name: user.name,
    groups: [...new Set(groups)],
    is_admin: user.is_admin,
    is_security_reviewer: user.is_security_reviewer,
  };
}

export type UserRecord = LoadedAggregate<UserState>;

/**
 * Every login appends to the user's stream, so it grows without bound; snapshots keep reading it
 * (for /me, each login, each client-credentials grant) to at most `every` events.
 */
export const USER_SNAPSHOT_EVERY = 100;

export const userDecider: Decider<UserState, UserCommand, UserEvent> = {
  streamType: USER_STREAM_TYPE, initialState: initialUserState, evolve: evolveUser, decide: decideUser,
  snapshot: { version: USER_STATE_VERSION, every: USER_SNAPSHOT_EVERY },
};

/** Users as event streams: one stream per user, one per provider identity that points at it. */
export class UserDirectory {
  constructor(private readonly store: EventStore, private readonly config: Config) {}

  async read(userId: string): Promise<UserRecord> {
    const loaded = await loadAggregate({ store: this.store }, userDecider, userStreamId(userId));
    return { ...loaded, state: loaded.state.status === 'none' ? { ...loaded.state, user_id: userId } : loaded.state };
  }

  async execute(userId: string, command: UserCommand, metadata: EventMetadata): Promise<{ state: UserState; position: number }> {
    const { state, position } = await decideAndAppend(this.store, userDecider, command, { streamId: userStreamId(userId), expectedVersion: null, commandId: null, metadata, retries: 5 });
    return { state, position };
  }

  /**
   * Finds or registers the user behind a provider identity and records the login. Two first
   * logins racing on the same identity both try to create its stream with `no_stream`; the
   * loser gets a version conflict and retries, finding the winner's user.
   */
  async login(provider: string, identity: ProviderIdentity, method: 'oauth' | 'client_credentials', metadata: EventMetadata): Promise<{ user: UserState; position: number }> {
    const roles = {
      is_admin: listed(this.config.auth.administrators, provider, identity),
      is_security_reviewer: listed(this.config.auth.security_reviewers, provider, identity),
    };
    for (let attempt = 0; ; attempt++) {
      const identityStream = identityStreamId(provider, identity.provider_user_id);
      const links = await this.store.readStream(identityStream);
      const linked = links.length ? (links[links.length - 1]!.data as ProviderIdentityLinked).user_id : null;
      const existing = linked ? await this.read(linked) : null;
      const live = existing && existing.state.status === 'active';
      const userId = live ? linked! : randomUUID();
      const command: UserCommand = {
        type: 'RecordLogin',
        user_id: userId,
        identity: { provider, provider_user_id: identity.provider_user_id, email: identity.email, name: identity.name, email_verified: identity.email_verified },
        login: { provider, method, groups: identity.groups, ...roles },
      };
      const state = live ? existing.state : initialUserState();
      const events = decideUser(command, state);
      const appends: StreamAppend[] = [{ stream_id: userStreamId(userId), stream_type: USER_STREAM_TYPE, expected: live ? existing.version : 'no_stream' as const, events }];
      if (!live) {
        appends.push({
          stream_id: identityStream, stream_type: IDENTITY_STREAM_TYPE, expected: links.length ? links[links.length - 1]!.version : 'no_stream',
          events: [{ type: 'ProviderIdentityLinked', data: { user_id: userId, provider, provider_user_id: identity.provider_user_id, email: identity.email, primary: true } }],
        });
      }
      try {
        const result = await this.store.appendToStreams(appends, { metadata: { ...metadata, actor: { user_id: userId, email: identity.email, provider } } });
        const user = events.reduce(evolveUser, state);
        // The user's stream was appended at the exact version it was read at, so `user` is its state at the new version.
        void snapshotAfterAppend(this.store, userDecider, userStreamId(userId), live ? existing.snapshotVersion : 0, user, (live ? existing.version : 0) + events.length);
        return { user, position: result.position };
      } catch (err) {
        if (err instanceof VersionConflictError && attempt < 5) continue;
        throw err;
      }
    }
  }
}
