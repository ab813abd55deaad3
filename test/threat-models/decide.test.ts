import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/commands/caller.js';
import { DomainError, type DomainErrorKind } from '../../src/commands/errors.js';
import {
  OWNER_PATHS, SECURITY_REVIEWER_PATHS, WRITER_PATHS, decide, effectiveRole, evolve, initialState,
  type ThreatModelCommand, type ThreatModelEvent, type ThreatModelState,
} from '../../src/commands/threat-models/index.js';
import { callerSubjectKeys } from '../../src/commands/threat-models/authorization.js';
import { caller, groupEntry, userEntry } from './fixtures.js';

const ID = '0190a000-0000-7000-8000-000000000001';
const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-02T00:00:00.000Z';

const alice = caller('alice');
const bob = caller('bob');
const carol = caller('carol');
const dave = caller('dave', { groups: ['editors'] });
const stranger = caller('mallory');
const reviewer = caller('rita', { is_security_reviewer: true });

type Cmd = ThreatModelCommand extends infer C ? C extends unknown ? Omit<C, 'caller' | 'now'> : never : never;

/** given(events) → when(caller, command) → then(events) or thenRefused(kind). */
function given(...history: ThreatModelEvent[]) {
  const state = history.reduce<ThreatModelState>(evolve, initialState());
  return {
    state,
    when(who: Caller, command: Cmd) {
      const run = () => decide({ ...command, caller: who, now: T1 } as ThreatModelCommand, state);
      return {
        events: run,
        then: (expected: unknown) => expect(run()).toEqual(expected),
        thenRefused(kind: DomainErrorKind, message?: RegExp) {
          let error: unknown;
          try { run(); } catch (err) { error = err; }
          expect(error).toBeInstanceOf(DomainError);
          expect((error as DomainError).kind).toBe(kind);
          if (message) expect((error as DomainError).message).toMatch(message);
        },
        after: () => run().reduce(evolve, state),
      };
    },
  };
}

const create = (input: Record<string, unknown> = {}): Cmd => ({ type: 'CreateThreatModel', threat_model_id: ID, alias: 7, input: { name: 'Payments', ...input } });

/** A threat model alice created, sharing bob as writer, carol as reader, the editors group as writer. */
function created(extra: Record<string, unknown> = {}): ThreatModelEvent[] {
  return given().when(alice, create({
    authorization: [userEntry(bob, 'writer'), userEntry(carol, 'reader'), groupEntry('editors', 'writer')],
    ...extra,
  })).events();
}
const shared = () => given(...created());
const patch = (...operations: { op: string; path: string; value?: unknown }[]): Cmd => ({ type: 'PatchThreatModel', operations } as Cmd);
const aliceUser = { principal_type: 'user', provider: 'tmi', provider_id: 'alice@tmi.local', display_name: 'Alice', email: 'alice@tmi.local' };

describe('CreateThreatModel', () => {
  it('makes the creator owner, adds TMI\'s default entries and defaults', () => {
    given().when(alice, create()).then([{
      type: 'ThreatModelCreated',
      data: {
        threat_model_id: ID, alias: 7, name: 'Payments', description: null, threat_model_framework: 'STRIDE',
        issue_uri: null, project_id: null, status: 'not_started', status_updated: T1, security_reviewer: null,
        is_confidential: false, owner: aliceUser, created_by: aliceUser,
        authorization: [
          { ...aliceUser, role: 'owner' },
          { principal_type: 'group', provider: '*', provider_id: 'security-reviewers', display_name: 'Security Reviewers', role: 'owner' },
          { principal_type: 'group', provider: '*', provider_id: 'tmi-automation', display_name: 'TMI Automation', role: 'writer' },
        ],
        created_at: T1,
      },
    }]);
  });

  it('raises a creator listed with a lower role to owner instead of duplicating them', () => {
    const [e] = given().when(alice, create({ authorization: [userEntry(alice, 'reader')] })).events();
    const entries = (e!.data as { authorization: { provider_id: string; role: string }[] }).authorization;
    expect(entries.filter((x) => x.provider_id === 'alice@tmi.local')).toEqual([expect.objectContaining({ role: 'owner' })]);
  });

  it('a confidential threat model gets the confidential project reviewers instead of the security reviewers', () => {
    const [e] = given().when(alice, create({ is_confidential: true })).events();
    const groups = (e!.data as { authorization: { principal_type: string; provider_id: string; role: string }[] }).authorization
      .filter((a) => a.principal_type === 'group').map((a) => [a.provider_id, a.role]);
    expect(groups).toEqual([['confidential-project-reviewers', 'owner'], ['tmi-automation', 'writer']]);
    expect(effectiveRole(reviewer, given(e!).state as never)).toBeNull();
  });

  it('default groups the caller already named are not added again', () => {
    const [e] = given().when(alice, create({ authorization: [groupEntry('security-reviewers', 'reader', 'google')] })).events();
    const groups = (e!.data as { authorization: { principal_type: string; provider: string; provider_id: string; role: string }[] }).authorization
      .filter((a) => a.principal_type === 'group').map((a) => [a.provider, a.provider_id, a.role]);
    expect(groups).toEqual([['google', 'security-reviewers', 'reader'], ['*', 'tmi-automation', 'writer']]);
  });

  it('records metadata given at creation as a metadata event', () => {
    const events = given().when(alice, create({ metadata: [{ key: 'env', value: 'prod' }] })).events();
    expect(events.map((e) => e.type)).toEqual(['ThreatModelCreated', 'MetadataEntriesSet']);
    expect(events[1]!.data).toEqual({ entity_type: 'threat_model', entity_id: ID, entries: [{ key: 'env', value: 'prod' }], at: T1 });
  });

  it.each([['stride', 'STRIDE'], ['CIA', 'CIA'], ['linddun', 'LINDDUN'], ['DIE', 'DIE'], ['plot4ai', 'PLOT4ai'], [null, 'STRIDE']])(
    'accepts framework %s as %s', (given_, stored) => {
      const [e] = given().when(alice, create({ threat_model_framework: given_ })).events();
      expect((e!.data as { threat_model_framework: string }).threat_model_framework).toBe(stored);
    });

  it('refuses an unknown framework', () => given().when(alice, create({ threat_model_framework: 'PASTA' })).thenRefused('invalid', /framework/));
  it('refuses duplicate subjects', () =>
    given().when(alice, create({ authorization: [userEntry(bob, 'reader'), { ...userEntry(bob, 'writer'), provider_id: 'BOB@tmi.local' }] })).thenRefused('invalid', /duplicate/));
  it('refuses duplicate metadata keys', () =>
    given().when(alice, create({ metadata: [{ key: 'a', value: '1' }, { key: 'a', value: '2' }] })).thenRefused('invalid'));
  it('refuses an id already in use', () => given(...created()).when(alice, create()).thenRefused('conflict'));
});

describe('effective roles (TMI rules)', () => {
  const { state } = shared();
  const access = state.exists ? state : null!;
  it.each([
    ['owner', alice, 'owner'], ['user writer', bob, 'writer'], ['user reader', carol, 'reader'],
    ['group member', dave, 'writer'], ['stranger', stranger, null],
    ['security reviewer (default group entry)', reviewer, 'owner'],
    ['same user by verified email, other provider id', caller('bob', { provider_id: 'sub-123' }), 'writer'],
    ['same email unverified, other provider id', caller('bob', { provider_id: 'sub-123', email_verified: false }), null],
    ['same id from another identity provider', caller('carol', { provider: 'google' }), null],
    ['named by internal user id', caller('dora', { user_id: 'B0B-INTERNAL' }), null],
  ])('%s', (_label, who, role) => expect(effectiveRole(who, access)).toBe(role));

  it('everyone matches any signed-in user; provider-specific groups match only that provider', () => {
    const acl = { owner: access.owner, authorization: [groupEntry('everyone', 'reader'), groupEntry('staff', 'writer', 'google')] };
    expect(effectiveRole(stranger, acl)).toBe('reader');
    expect(effectiveRole(caller('x', { provider: 'google', groups: ['staff'] }), acl)).toBe('writer');
    expect(effectiveRole(caller('y', { provider: 'github', groups: ['staff'] }), acl)).toBe('reader');
  });

  it('an identity provider group named like a TMI built-in group is not that group', () => {
    // TMI grants its built-in groups itself (configuration flags); an IdP asserting the name must not inherit their default entries.
    for (const name of ['security-reviewers', 'administrators', 'tmi-automation', 'confidential-project-reviewers']) {
      expect(effectiveRole(caller('mallory', { provider: 'corp', groups: [name] }), access)).toBeNull();
      expect(effectiveRole(caller('mallory', { provider: 'corp', groups: [name] }), { owner: access.owner, authorization: [groupEntry(name, 'writer', 'tmi')] })).toBeNull();
    }
    // Named with the provider's own id, the provider's group does match.
    expect(effectiveRole(caller('x', { provider: 'google', groups: ['security-reviewers'] }), { owner: access.owner, authorization: [groupEntry('security-reviewers', 'reader', 'google')] })).toBe('reader');
    expect(effectiveRole(reviewer, access)).toBe('owner');
  });

  it('built-in groups may be named with provider tmi as well as *', () => {
    const acl = { owner: access.owner, authorization: [groupEntry('everyone', 'writer', 'tmi')] };
    expect(effectiveRole(caller('z', { provider: 'google' }), acl)).toBe('writer');
    expect(effectiveRole(caller('z', { provider: 'google', groups: ['staff'] }), { owner: access.owner, authorization: [groupEntry('staff', 'writer', 'tmi')] })).toBeNull();
  });

  it('a user entry may name the caller by internal user id', () => {
    const acl = { owner: access.owner, authorization: [{ principal_type: 'user' as const, provider: '*', provider_id: stranger.user_id.toUpperCase(), role: 'reader' as const }] };
    expect(effectiveRole(stranger, acl)).toBe('reader');
  });

  it('the highest matching entry wins', () => {
    const acl = { owner: access.owner, authorization: [groupEntry('editors', 'writer'), userEntry(dave, 'owner')] };
    expect(effectiveRole(dave, acl)).toBe('owner');
  });
});

describe('an entry naming a user by email needs a verified email', () => {
  // Shared with the victim by email only; the impostor's provider hands out the victim's address without verifying it.
  const byEmail = () => given(...given().when(alice, create({ authorization: [{ principal_type: 'user', provider: '*', provider_id: 'victim@corp.example', role: 'writer' }] })).events());
  const impostor = caller('impostor', { provider: 'corp', provider_id: 'sub-impostor', email: 'victim@corp.example', email_verified: false });
  const victim = caller('victim', { provider: 'corp', provider_id: 'sub-victim', email: 'victim@corp.example', email_verified: true });
  const rename: Cmd = { type: 'ReplaceThreatModel', input: { name: 'Renamed' } };

  it('an unverified email matches nothing: the command is forbidden', () => byEmail().when(impostor, rename).thenRefused('forbidden'));
  it('the same email verified is the entry\'s user', () => expect(byEmail().when(victim, rename).events()).toHaveLength(1));
  it('the keys the list query uses leave an unverified email out, and keep the provider id and internal id', () => {
    const subjects = (c: Caller) => callerSubjectKeys(c).filter((k) => k.principal_type === 'user').map((k) => k.subject);
    expect(subjects(impostor)).not.toContain('victim@corp.example');
    expect(subjects(impostor)).toEqual(expect.arrayContaining(['sub-impostor', impostor.user_id]));
    expect(subjects(victim)).toContain('victim@corp.example');
  });
});

describe('ReplaceThreatModel', () => {
  const put = (input: Record<string, unknown>): Cmd => ({ type: 'ReplaceThreatModel', input: { name: 'Payments', ...input } } as Cmd);

  it('a writer replaces the descriptive fields', () => {
    const events = shared().when(bob, put({ name: 'Payments v2', description: 'd', issue_uri: 'https://x.example.com/1' })).events();
    expect(events).toEqual([expect.objectContaining({ type: 'ThreatModelDetailsChanged', data: expect.objectContaining({ name: 'Payments v2', description: 'd', modified_at: T1 }) })]);
  });
  it('sending the same values changes nothing', () => shared().when(bob, put({})).then([]));
  it('a reader is forbidden', () => shared().when(carol, put({ name: 'x' })).thenRefused('forbidden'));
  it('a stranger is forbidden: the threat model exists', () => shared().when(stranger, put({ name: 'x' })).thenRefused('forbidden', /writer/));
  it('an unknown threat model is not found', () => given().when(alice, put({})).thenRefused('not_found'));
  it('a writer may not change the authorization list', () =>
    shared().when(bob, put({ authorization: [userEntry(bob, 'owner')] })).thenRefused('forbidden', /owner/));
  it('an owner changes the authorization list; the owner entry stays', () => {
    const after = shared().when(alice, put({ authorization: [userEntry(carol, 'writer')] })).after();
    expect(after.exists && after.authorization.map((e) => [e.provider_id, e.role])).toEqual([['carol@tmi.local', 'writer'], ['alice@tmi.local', 'owner']]);
  });
  it('refuses duplicate subjects', () =>
    shared().when(alice, put({ authorization: [userEntry(carol, 'writer'), userEntry(carol, 'reader')] })).thenRefused('invalid', /duplicate/));
  it('is_confidential cannot change after creation', () => shared().when(alice, put({ is_confidential: true })).thenRefused('invalid'));
  it('metadata given replaces the metadata', () => {
    const h = given(...created({ metadata: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }] }));
    h.when(bob, put({ metadata: [{ key: 'b', value: '3' }] })).then([
      { type: 'MetadataEntriesRemoved', data: { entity_type: 'threat_model', entity_id: ID, keys: ['a'], at: T1 } },
      { type: 'MetadataEntriesSet', data: { entity_type: 'threat_model', entity_id: ID, entries: [{ key: 'b', value: '3' }], at: T1 } },
    ]);
  });
});

describe('PatchThreatModel allowlist', () => {
  const writerValues: Record<(typeof WRITER_PATHS)[number], unknown> = {
    name: 'New name', description: 'New description', issue_uri: 'https://issues.example.com/1',
    metadata: [{ key: 'k', value: 'v' }], threat_model_framework: 'LINDDUN', project_id: '0190a000-0000-7000-8000-0000000000ff',
  };
  it.each(WRITER_PATHS)('a writer may replace /%s', (member) => {
    const after = shared().when(bob, patch({ op: 'replace', path: `/${member}`, value: writerValues[member] })).after();
    expect(after.exists && (after as unknown as Record<string, unknown>)[member]).toEqual(writerValues[member]);
  });
  it.each(OWNER_PATHS)('a writer may not touch /%s', (member) =>
    shared().when(bob, patch({ op: 'replace', path: `/${member}`, value: member === 'owner' ? aliceUser : [] })).thenRefused('forbidden'));
  it.each(SECURITY_REVIEWER_PATHS)('an owner who is not a security reviewer may not touch /%s', (member) =>
    shared().when(alice, patch({ op: 'replace', path: `/${member}`, value: member === 'status' ? 'approved' : null })).thenRefused('forbidden'));
  it.each(['/id', '/created_at', '/modified_at', '/alias', '/created_by', '/is_confidential', '/threats', '/diagrams', '/version', '/no_such_field', '', 'name'])(
    'refuses path "%s" for everyone', (path) => shared().when(alice, patch({ op: 'replace', path, value: 'x' })).thenRefused('invalid'));
  it('refuses an empty patch', () => shared().when(alice, patch()).thenRefused('invalid'));
  it('a reader may not patch at all', () => shared().when(carol, patch({ op: 'replace', path: '/name', value: 'x' })).thenRefused('forbidden'));
  it('a stranger is forbidden', () => shared().when(stranger, patch({ op: 'replace', path: '/name', value: 'x' })).thenRefused('forbidden'));
  it('a patch producing an invalid document is refused', () => {
    shared().when(bob, patch({ op: 'remove', path: '/name' })).thenRefused('invalid');
    shared().when(bob, patch({ op: 'replace', path: '/name', value: 'x'.repeat(257) })).thenRefused('invalid');
    shared().when(bob, patch({ op: 'replace', path: '/name', value: 42 })).thenRefused('invalid');
    shared().when(bob, patch({ op: 'add', path: '/metadata/-', value: { key: 'bad key!', value: 'v' } })).thenRefused('invalid');
    shared().when(bob, patch({ op: 'replace', path: '/threat_model_framework', value: 'PASTA' })).thenRefused('invalid');
  });
  it('an operation on a missing member is refused', () => shared().when(bob, patch({ op: 'replace', path: '/name/deeper', value: 'x' })).thenRefused('invalid'));
  it('a failed test operation is a conflict', () =>
    shared().when(bob, patch({ op: 'test', path: '/name', value: 'Other' }, { op: 'replace', path: '/name', value: 'x' })).thenRefused('conflict'));
  it('a test on a read-only member is allowed', () =>
    expect(shared().when(bob, patch({ op: 'test', path: '/id', value: ID }, { op: 'replace', path: '/name', value: 'x' })).events()).toHaveLength(1));
  it('the status is changed by a security reviewer and stamps status_updated', () => {
    const events = shared().when(reviewer, patch({ op: 'replace', path: '/status', value: 'in_review' })).events();
    expect(events[0]!.data).toMatchObject({ status: 'in_review', status_updated: T1 });
  });
  it('assigning a security reviewer gives them an owner entry', () => {
    const rita = { principal_type: 'user', provider: 'tmi', provider_id: 'rita@tmi.local', display_name: 'Rita', email: 'rita@tmi.local' };
    const after = shared().when(reviewer, patch({ op: 'replace', path: '/security_reviewer', value: rita })).after();
    expect(after.exists && after.authorization).toContainEqual({ ...rita, role: 'owner' });
  });
  it('an owner edits the authorization list by patch', () => {
    const after = shared().when(alice, patch({ op: 'add', path: '/authorization/-', value: groupEntry('everyone', 'reader') })).after();
    expect(after.exists && effectiveRole(stranger, after)).toBe('reader');
  });
  it('removing the owner\'s entry keeps the owner an owner', () => {
    const { state } = shared();
    const index = state.exists ? state.authorization.findIndex((e) => e.provider_id === 'alice@tmi.local') : -1;
    const after = shared().when(alice, patch({ op: 'remove', path: `/authorization/${index}` })).after();
    expect(after.exists && after.authorization).toContainEqual({ ...aliceUser, role: 'owner' });
  });
  it('duplicate subjects through a patch are refused', () =>
    shared().when(alice, patch({ op: 'add', path: '/authorization/-', value: userEntry(bob, 'reader') })).thenRefused('invalid', /duplicate/));
  it('transferring ownership keeps the previous owner as an owner entry', () => {
    const bobUser = { principal_type: 'user', provider: 'tmi', provider_id: 'bob@tmi.local', display_name: 'Bob', email: 'bob@tmi.local' };
    const h = shared().when(alice, patch({ op: 'replace', path: '/owner', value: bobUser }));
    expect(h.events().map((e) => e.type)).toEqual(['ThreatModelAccessChanged']);
    const after = h.after();
    expect(after.exists && after.owner).toEqual(bobUser);
    expect(after.exists && effectiveRole(alice, after)).toBe('owner');
    expect(after.exists && effectiveRole(bob, after)).toBe('owner');
    expect(after.exists && after.authorization.filter((e) => e.provider_id === 'bob@tmi.local')).toHaveLength(1);
  });
  it('a patch that changes nothing appends nothing', () => shared().when(bob, patch({ op: 'replace', path: '/name', value: 'Payments' })).then([]));
});

describe('DeleteThreatModel and RestoreThreatModel', () => {
  const del: Cmd = { type: 'DeleteThreatModel' };
  const restore: Cmd = { type: 'RestoreThreatModel' };
  const deleted = () => given(...created(), { type: 'ThreatModelDeleted', data: { threat_model_id: ID, deleted_at: T0 } });

  it('an owner soft-deletes', () => shared().when(alice, del).then([{ type: 'ThreatModelDeleted', data: { threat_model_id: ID, deleted_at: T1 } }]));
  it('a writer is forbidden', () => shared().when(bob, del).thenRefused('forbidden'));
  it('a stranger is forbidden', () => shared().when(stranger, del).thenRefused('forbidden'));
  it('a deleted threat model is not found for every other command, for its owner and for a stranger', () => {
    deleted().when(alice, del).thenRefused('not_found');
    deleted().when(stranger, del).thenRefused('not_found');
    deleted().when(stranger, { type: 'ReplaceThreatModel', input: { name: 'x' } }).thenRefused('not_found');
    deleted().when(alice, patch({ op: 'replace', path: '/name', value: 'x' })).thenRefused('not_found');
    deleted().when(alice, { type: 'ChangeThreatModelMetadata', change: { kind: 'delete', key: 'a' } }).thenRefused('not_found');
  });
  it('an owner restores', () => deleted().when(alice, restore).then([{ type: 'ThreatModelRestored', data: { threat_model_id: ID, restored_at: T1 } }]));
  it('an administrator restores', () => expect(deleted().when(caller('root', { is_admin: true }), restore).events()).toHaveLength(1));
  it('a writer may not restore', () => deleted().when(bob, restore).thenRefused('forbidden'));
  it('a stranger may not restore: to restore, a deleted threat model exists', () => deleted().when(stranger, restore).thenRefused('forbidden'));
  it('restoring an unknown threat model is not found', () => given().when(alice, restore).thenRefused('not_found'));
  it('restoring a live threat model is a conflict', () => shared().when(alice, restore).thenRefused('conflict'));
});

describe('ChangeThreatModelMetadata', () => {
  const meta = (change: unknown): Cmd => ({ type: 'ChangeThreatModelMetadata', change } as Cmd);
  const withMeta = () => given(...created({ metadata: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }] }));
  const set = (entries: { key: string; value: string }[]) => ({ type: 'MetadataEntriesSet', data: { entity_type: 'threat_model', entity_id: ID, entries, at: T1 } });
  const removed = (keys: string[]) => ({ type: 'MetadataEntriesRemoved', data: { entity_type: 'threat_model', entity_id: ID, keys, at: T1 } });

  it('adds a key', () => withMeta().when(bob, meta({ kind: 'add', entry: { key: 'c', value: '3' } })).then([set([{ key: 'c', value: '3' }])]));
  it('adding an existing key is a conflict', () => withMeta().when(bob, meta({ kind: 'add', entry: { key: 'a', value: '9' } })).thenRefused('conflict'));
  it('replaces a value', () => withMeta().when(bob, meta({ kind: 'replace_value', key: 'a', value: '9' })).then([set([{ key: 'a', value: '9' }])]));
  it('replacing a missing key is not found', () => withMeta().when(bob, meta({ kind: 'replace_value', key: 'z', value: '9' })).thenRefused('not_found'));
  it('deletes a key', () => withMeta().when(bob, meta({ kind: 'delete', key: 'a' })).then([removed(['a'])]));
  it('deleting a missing key is not found', () => withMeta().when(bob, meta({ kind: 'delete', key: 'z' })).thenRefused('not_found'));
  it('bulk create refuses existing keys', () => withMeta().when(bob, meta({ kind: 'bulk_create', entries: [{ key: 'c', value: '3' }, { key: 'a', value: '1' }] })).thenRefused('conflict'));
  it('bulk create adds new keys', () => withMeta().when(bob, meta({ kind: 'bulk_create', entries: [{ key: 'c', value: '3' }] })).then([set([{ key: 'c', value: '3' }])]));
  it('bulk upsert sets only what changes', () =>
    withMeta().when(bob, meta({ kind: 'bulk_upsert', entries: [{ key: 'a', value: '1' }, { key: 'b', value: '5' }] })).then([set([{ key: 'b', value: '5' }])]));
  it('bulk upsert of unchanged values appends nothing', () => withMeta().when(bob, meta({ kind: 'bulk_upsert', entries: [{ key: 'a', value: '1' }] })).then([]));
  it('bulk replace removes what is missing', () =>
    withMeta().when(bob, meta({ kind: 'bulk_replace', entries: [{ key: 'c', value: '3' }] })).then([removed(['a', 'b']), set([{ key: 'c', value: '3' }])]));
  it('bulk replace with an empty list clears', () => withMeta().when(bob, meta({ kind: 'bulk_replace', entries: [] })).then([removed(['a', 'b'])]));
  it('duplicate keys in one request are refused', () =>
    withMeta().when(bob, meta({ kind: 'bulk_upsert', entries: [{ key: 'x', value: '1' }, { key: 'x', value: '2' }] })).thenRefused('invalid'));
  it('more than 100 entries are refused', () =>
    withMeta().when(bob, meta({ kind: 'bulk_upsert', entries: Array.from({ length: 99 }, (_, i) => ({ key: `k${i}`, value: 'v' })) })).thenRefused('invalid', /100/));
  it('a reader may not change metadata', () => withMeta().when(carol, meta({ kind: 'delete', key: 'a' })).thenRefused('forbidden'));
  it('metadata events evolve into the state in order', () => {
    const after = withMeta().when(bob, meta({ kind: 'bulk_upsert', entries: [{ key: 'a', value: '7' }, { key: 'c', value: '3' }] })).after();
    expect(after.exists && after.metadata).toEqual([{ key: 'a', value: '7' }, { key: 'b', value: '2' }, { key: 'c', value: '3' }]);
  });
});
