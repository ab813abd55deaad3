import type { ClientCredentialEvent } from './events.js';

/** Any reason a client could not authenticate; callers answer all of them alike. */
export class InvalidClientError extends Error {
  constructor(readonly reason: 'unknown' | 'deleted' | 'expired' | 'wrong_secret') {
    super(`client authentication failed: ${reason}`);
    this.name = 'InvalidClientError';
  }
}

export class CredentialNotFoundError extends Error {
  constructor() {
    super('client credential not found');
    this.name = 'CredentialNotFoundError';
  }
}

export interface ClientCredentialState {
  status: 'none' | 'active' | 'deleted';
  credential_id: string;
  owner_id: string;
  client_id: string;
  secret_hash: string;
  name: string;
  expires_at?: string;
}

/** The version of ClientCredentialState's shape and of evolveCredential's meaning; bump it with any change to either (snapshots are keyed by it). */
export const CREDENTIAL_STATE_VERSION = 1;

export const initialCredentialState = (): ClientCredentialState => ({ status: 'none', credential_id: '', owner_id: '', client_id: '', secret_hash: '', name: '' });

export function evolveCredential(state: ClientCredentialState, event: ClientCredentialEvent): ClientCredentialState {
  switch (event.type) {
    case 'ClientCredentialCreated': {
      const { credential_id, owner_id, client_id, secret_hash, name, expires_at } = event.data;
      return { status: 'active', credential_id, owner_id, client_id, secret_hash, name, ...(expires_at ? { expires_at } : {}) };
    }
    case 'ClientCredentialDeleted':
      return { ...state, status: 'deleted' };
    default:
      return state;
  }
}

export const foldCredential = (events: readonly { type: string; data: unknown }[]): ClientCredentialState =>
  events.reduce((s, e) => evolveCredential(s, e as ClientCredentialEvent), initialCredentialState());

// Equal-time comparison, so response timing does not reveal how much of a hash matched.
function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export type ClientCredentialCommand =
  | { type: 'CreateCredential'; credential_id: string; owner_id: string; client_id: string; secret_hash: string; name: string; description?: string; expires_at?: string }
  | { type: 'DeleteCredential'; requester_id: string }
  | { type: 'Authenticate'; secret_hash: string; now: Date; ip?: string };

export function decideCredential(command: ClientCredentialCommand, state: ClientCredentialState): ClientCredentialEvent[] {
  switch (command.type) {
    case 'CreateCredential': {
      const { type: _type, ...data } = command;
      return [{ type: 'ClientCredentialCreated', data }];
    }
    case 'DeleteCredential':
      // Someone else's credential is indistinguishable from a missing one.
      if (state.status !== 'active' || state.owner_id !== command.requester_id) throw new CredentialNotFoundError();
      return [{ type: 'ClientCredentialDeleted', data: { deleted_by: command.requester_id } }];
    case 'Authenticate':
      if (state.status === 'none') throw new InvalidClientError('unknown');
      if (state.status === 'deleted') throw new InvalidClientError('deleted');
      if (!sameHash(state.secret_hash, command.secret_hash)) throw new InvalidClientError('wrong_secret');
      if (state.expires_at && Date.parse(state.expires_at) <= command.now.getTime()) throw new InvalidClientError('expired');
      return [{ type: 'ClientCredentialUsed', data: command.ip ? { ip: command.ip } : {} }];
  }
}
