import type { TokenFamilyEvent, TokenFamilyRevoked } from './events.js';

/** Why a refresh token was refused; the HTTP layer turns every reason into the same 401. */
export class RefreshTokenRefused extends Error {
  constructor(readonly reason: 'unknown' | 'revoked' | 'expired' | 'reused') {
    super(`refresh token refused: ${reason}`);
    this.name = 'RefreshTokenRefused';
  }
}

export interface TokenFamilyState {
  status: 'none' | 'active' | 'revoked' | 'expired';
  family_id: string;
  user_id: string;
  current_hash: string;
  /** Hashes of tokens already exchanged; presenting one again is theft or a replay. */
  spent: string[];
  session_expires_at: number;
  client_id?: string;
}

export const initialFamilyState = (): TokenFamilyState => ({ status: 'none', family_id: '', user_id: '', current_hash: '', spent: [], session_expires_at: 0 });

export function evolveFamily(state: TokenFamilyState, event: TokenFamilyEvent): TokenFamilyState {
  switch (event.type) {
    case 'RefreshTokenIssued':
      return { ...initialFamilyState(), status: 'active', family_id: event.data.family_id, user_id: event.data.user_id, current_hash: event.data.token_hash, session_expires_at: event.data.session_expires_at, ...(event.data.client_id ? { client_id: event.data.client_id } : {}) };
    case 'RefreshTokenRotated':
      return { ...state, current_hash: event.data.token_hash, spent: [...state.spent, event.data.previous_hash] };
    case 'TokenFamilyRevoked':
      return { ...state, status: 'revoked' };
    case 'TokenFamilyExpired':
      return { ...state, status: 'expired' };
    default:
      return state;
  }
}

export const foldFamily = (events: readonly { type: string; data: unknown }[]): TokenFamilyState =>
  events.reduce((s, e) => evolveFamily(s, e as TokenFamilyEvent), initialFamilyState());

export type TokenFamilyCommand =
  | { type: 'StartFamily'; family_id: string; user_id: string; token_hash: string; session_expires_at: number; client_id?: string }
  | { type: 'Rotate'; presented_hash: string; new_hash: string; now: number; ip?: string }
  | { type: 'RevokeFamily'; reason: TokenFamilyRevoked['reason'] }
  | { type: 'ExpireFamily'; now: number };

/**
 * Refresh tokens are single use: the current one rotates to a new one within the absolute
 * session; a spent one presented again revokes the whole family (the caller records that and refuses).
 */
export function decideFamily(command: TokenFamilyCommand, state: TokenFamilyState): TokenFamilyEvent[] {
  switch (command.type) {
    case 'StartFamily':
      return [{ type: 'RefreshTokenIssued', data: { family_id: command.family_id, user_id: command.user_id, token_hash: command.token_hash, session_expires_at: command.session_expires_at, ...(command.client_id ? { client_id: command.client_id } : {}) } }];
    case 'Rotate': {
      if (state.status === 'none') throw new RefreshTokenRefused('unknown');
      // An ended session is over for every token of it, spent ones included: nothing left to protect by revoking.
      if (state.status === 'expired') throw new RefreshTokenRefused('expired');
      const reused = state.spent.includes(command.presented_hash);
      if (state.status === 'revoked') {
        if (reused || command.presented_hash === state.current_hash) throw new RefreshTokenRefused('revoked');
        throw new RefreshTokenRefused('unknown');
      }
      if (reused) {
        return [
          { type: 'RefreshTokenReuseDetected', data: { presented_hash: command.presented_hash, ...(command.ip ? { ip: command.ip } : {}) } },
          { type: 'TokenFamilyRevoked', data: { reason: 'reuse' } },
        ];
      }
      if (command.presented_hash !== state.current_hash) throw new RefreshTokenRefused('unknown');
      if (command.now >= state.session_expires_at) throw new RefreshTokenRefused('expired');
      return [{ type: 'RefreshTokenRotated', data: { previous_hash: command.presented_hash, token_hash: command.new_hash } }];
    }
    case 'RevokeFamily':
      if (state.status !== 'active') return [];
      return [{ type: 'TokenFamilyRevoked', data: { reason: command.reason } }];
    case 'ExpireFamily':
      // Revoked families ended already, with their own reason; a live session is not cut short.
      if (state.status !== 'active' || command.now < state.session_expires_at) return [];
      return [{ type: 'TokenFamilyExpired', data: { session_expires_at: state.session_expires_at } }];
  }
}
