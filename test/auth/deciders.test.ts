import { describe, expect, it } from 'vitest';
import { CredentialNotFoundError, InvalidClientError, decideCredential, foldCredential } from '../../src/commands/tokens/client-credential.js';
import { RefreshTokenRefused, decideFamily, foldFamily } from '../../src/commands/tokens/family.js';
import { decideUser } from '../../src/commands/users/decide.js';
import { UserNotFoundError } from '../../src/commands/users/errors.js';
import { foldUser } from '../../src/commands/users/state.js';

const h = (c: string) => c.repeat(64);
const issued = { type: 'RefreshTokenIssued', data: { family_id: 'f', user_id: 'u', token_hash: h('a'), session_expires_at: 1000 } };

describe('token family decider', () => {
  const given = (...events: { type: string; data: unknown }[]) => foldFamily(events);

  it('rotates the current token within the session', () => {
    expect(decideFamily({ type: 'Rotate', presented_hash: h('a'), new_hash: h('b'), now: 999 }, given(issued)))
      .toEqual([{ type: 'RefreshTokenRotated', data: { previous_hash: h('a'), token_hash: h('b') } }]);
  });

  it('refuses after the absolute session end, even for the current token', () => {
    expect(() => decideFamily({ type: 'Rotate', presented_hash: h('a'), new_hash: h('b'), now: 1000 }, given(issued))).toThrow(RefreshTokenRefused);
  });

  it('a spent token presented again is reuse: detected and the family revoked', () => {
    const state = given(issued, { type: 'RefreshTokenRotated', data: { previous_hash: h('a'), token_hash: h('b') } });
    expect(decideFamily({ type: 'Rotate', presented_hash: h('a'), new_hash: h('c'), now: 10 }, state).map((e) => e.type))
      .toEqual(['RefreshTokenReuseDetected', 'TokenFamilyRevoked']);
  });

  it('nothing works after revocation; revoking twice is a no-op; unknown hashes are refused', () => {
    const revoked = given(issued, { type: 'TokenFamilyRevoked', data: { reason: 'logout' } });
    expect(() => decideFamily({ type: 'Rotate', presented_hash: h('a'), new_hash: h('c'), now: 10 }, revoked)).toThrow(/revoked/);
    expect(decideFamily({ type: 'RevokeFamily', reason: 'revoke' }, revoked)).toEqual([]);
    expect(() => decideFamily({ type: 'Rotate', presented_hash: h('9'), new_hash: h('c'), now: 10 }, given(issued))).toThrow(/unknown/);
    expect(() => decideFamily({ type: 'Rotate', presented_hash: h('a'), new_hash: h('c'), now: 10 }, given())).toThrow(/unknown/);
  });

  it('expires a live family once its session has ended, and only then; an expired one refuses even spent tokens without a reuse alarm', () => {
    expect(decideFamily({ type: 'ExpireFamily', now: 999 }, given(issued))).toEqual([]);
    expect(decideFamily({ type: 'ExpireFamily', now: 1000 }, given(issued))).toEqual([{ type: 'TokenFamilyExpired', data: { session_expires_at: 1000 } }]);
    expect(decideFamily({ type: 'ExpireFamily', now: 2000 }, given(issued, { type: 'TokenFamilyRevoked', data: { reason: 'logout' } }))).toEqual([]);
    const expired = given(issued, { type: 'RefreshTokenRotated', data: { previous_hash: h('a'), token_hash: h('b') } }, { type: 'TokenFamilyExpired', data: { session_expires_at: 1000 } });
    expect(decideFamily({ type: 'ExpireFamily', now: 2000 }, expired)).toEqual([]);
    expect(() => decideFamily({ type: 'Rotate', presented_hash: h('a'), new_hash: h('c'), now: 2000 }, expired)).toThrow(/expired/);
    expect(decideFamily({ type: 'RevokeFamily', reason: 'revoke' }, expired)).toEqual([]);
  });
});

describe('client credential decider', () => {
  const created = { type: 'ClientCredentialCreated', data: { credential_id: 'c', owner_id: 'o', client_id: 'tmi_cc_x', secret_hash: h('a'), name: 'n', expires_at: '2030-01-01T00:00:00Z' } };

  it('authenticates the right secret before expiry only', () => {
    expect(decideCredential({ type: 'Authenticate', secret_hash: h('a'), now: new Date('2029-01-01') }, foldCredential([created]))).toEqual([{ type: 'ClientCredentialUsed', data: {} }]);
    expect(() => decideCredential({ type: 'Authenticate', secret_hash: h('b'), now: new Date('2029-01-01') }, foldCredential([created]))).toThrow(InvalidClientError);
    expect(() => decideCredential({ type: 'Authenticate', secret_hash: h('a'), now: new Date('2031-01-01') }, foldCredential([created]))).toThrow(/expired/);
  });

  it('only the owner deletes; a deleted credential no longer authenticates', () => {
    expect(() => decideCredential({ type: 'DeleteCredential', requester_id: 'someone' }, foldCredential([created]))).toThrow(CredentialNotFoundError);
    const deleted = foldCredential([created, { type: 'ClientCredentialDeleted', data: { deleted_by: 'o' } }]);
    expect(() => decideCredential({ type: 'Authenticate', secret_hash: h('a'), now: new Date('2029-01-01') }, deleted)).toThrow(/deleted/);
  });
});

describe('user decider', () => {
  const identity = { provider: 'tmi', provider_user_id: 'al', email: 'al@tmi.local', name: 'al', email_verified: true };
  const login = { provider: 'tmi', method: 'oauth' as const, groups: [], is_admin: false, is_security_reviewer: false };

  it('registers on first login, records profile changes on later ones', () => {
    const first = decideUser({ type: 'RecordLogin', user_id: 'u1', identity, login }, foldUser([]));
    expect(first.map((e) => e.type)).toEqual(['UserRegistered', 'UserLoggedIn']);
    const state = foldUser(first);
    expect(decideUser({ type: 'RecordLogin', user_id: 'u1', identity, login }, state).map((e) => e.type)).toEqual(['UserLoggedIn']);
    const renamed = decideUser({ type: 'RecordLogin', user_id: 'u1', identity: { ...identity, name: 'Al' }, login }, state);
    expect(renamed[0]).toEqual({ type: 'UserProfileUpdated', data: { name: 'Al' } });
  });

  it('unchanged preferences are a no-op; a deleted user cannot change anything', () => {
    const state = foldUser(decideUser({ type: 'RecordLogin', user_id: 'u1', identity, login }, foldUser([])));
    expect(decideUser({ type: 'ReplacePreferences', preferences: {} }, state)).toEqual([]);
    const gone = foldUser([...decideUser({ type: 'RecordLogin', user_id: 'u1', identity, login }, foldUser([])), { type: 'UserDeleted', data: { reason: 'x' } }]);
    expect(() => decideUser({ type: 'ReplacePreferences', preferences: { a: {} } }, gone)).toThrow(UserNotFoundError);
    expect(() => decideUser({ type: 'DeleteUser', reason: 'again' }, gone)).toThrow(UserNotFoundError);
  });
});
