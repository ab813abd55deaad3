import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/commands/caller.js';
import { decide, evolve, initialState, type ThreatModelCommand, type ThreatModelEvent, type ThreatModelState } from '../../src/commands/threat-models/index.js';
import { decideRelinquish, decideTransfer, successorEntries } from '../../src/commands/threat-models/ownership.js';
import type { Authorization, User } from '../../src/commands/threat-models/values.js';
import { caller, groupEntry, userEntry } from './fixtures.js';

const ID = '0190a000-0000-7000-8000-00000000000a';
const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-02T00:00:00.000Z';

const alice = caller('alice');
const bob = caller('bob');
const carol = caller('carol');
const asUser = (c: Caller): User => ({ principal_type: 'user', provider: c.provider, provider_id: c.provider_id, display_name: c.name, email: c.email });

function stateAfter(...events: ThreatModelEvent[]): ThreatModelState {
  return events.reduce<ThreatModelState>(evolve, initialState());
}

/** Alice's threat model shared with carol (reader) and `extra` entries, through the real decider. */
function aliceModel(extra: Authorization[] = []): ThreatModelEvent[] {
  return decide({ type: 'CreateThreatModel', threat_model_id: ID, alias: 1, caller: alice, now: T0, input: { name: 'M', authorization: [userEntry(carol, 'reader'), ...extra] } } as ThreatModelCommand, initialState());
}

const roles = (s: ThreatModelState) => (s.exists ? Object.fromEntries(s.authorization.map((a) => [`${a.principal_type}:${a.provider_id}`, a.role])) : {});

describe('decideTransfer', () => {
  it('makes the target owner and leaves the caller a writer; everyone else keeps their role', () => {
    const before = stateAfter(...aliceModel());
    const events = decideTransfer(before, alice, asUser(bob), T1);
    expect(events.map((e) => e.type)).toEqual(['ThreatModelAccessChanged']);
    const after = events.reduce(evolve, before);
    expect(after.exists && after.owner).toEqual(asUser(bob));
    expect(roles(after)).toMatchObject({ 'user:alice@tmi.local': 'writer', 'user:bob@tmi.local': 'owner', 'user:carol@tmi.local': 'reader', 'group:security-reviewers': 'owner', 'group:tmi-automation': 'writer' });
  });

  it('raises a target who already holds an entry instead of adding a second one', () => {
    const before = stateAfter(...aliceModel([userEntry(bob, 'reader')]));
    const after = decideTransfer(before, alice, asUser(bob), T1).reduce(evolve, before);
    expect(after.exists && after.authorization.filter((a) => a.provider_id === 'bob@tmi.local')).toEqual([expect.objectContaining({ role: 'owner' })]);
  });

  it('decides nothing for a threat model the caller does not own, or a deleted one', () => {
    const before = stateAfter(...aliceModel([userEntry(bob, 'owner')]));
    // Bob holds an owner entry but is not the owner: not his to give away.
    expect(decideTransfer(before, bob, asUser(carol), T1)).toEqual([]);
    expect(decideTransfer(stateAfter(...aliceModel(), { type: 'ThreatModelDeleted', data: { threat_model_id: ID, deleted_at: T1 } }), alice, asUser(bob), T1)).toEqual([]);
    expect(decideTransfer(initialState(), alice, asUser(bob), T1)).toEqual([]);
  });
});

describe('decideRelinquish (account deletion)', () => {
  it('hands a threat model with another user owner to the first of them and removes the leaving user', () => {
    const before = stateAfter(...aliceModel([userEntry(bob, 'owner')]));
    expect(successorEntries(before, alice).map((e) => e.provider_id)).toEqual(['bob@tmi.local']);
    const after = decideRelinquish(before, alice, [asUser(bob)], T1).reduce(evolve, before);
    expect(after.exists && after.owner).toEqual(asUser(bob));
    expect(roles(after)).not.toHaveProperty('user:alice@tmi.local');
    expect(roles(after)).toMatchObject({ 'user:bob@tmi.local': 'owner', 'user:carol@tmi.local': 'reader' });
  });

  it('deletes a threat model nobody else owns (readers and owner groups do not inherit it)', () => {
    const before = stateAfter(...aliceModel());
    expect(successorEntries(before, alice)).toEqual([]);
    expect(decideRelinquish(before, alice, [], T1)).toEqual([{ type: 'ThreatModelDeleted', data: { threat_model_id: ID, deleted_at: T1 } }]);
  });

  it('ignores a resolved successor who no longer holds an owner entry on the stream', () => {
    const before = stateAfter(...aliceModel([userEntry(bob, 'writer')]));
    expect(decideRelinquish(before, alice, [asUser(bob)], T1).map((e) => e.type)).toEqual(['ThreatModelDeleted']);
  });

  it('clears the leaving user as security reviewer so the successor list does not keep them as owner', () => {
    const created = aliceModel([userEntry(bob, 'owner'), groupEntry('editors', 'writer')]);
    const withReviewer = stateAfter(...created, {
      type: 'ThreatModelDetailsChanged',
      data: { threat_model_id: ID, name: 'M', description: null, threat_model_framework: 'STRIDE', issue_uri: null, project_id: null, status: 'not_started', status_updated: T0, security_reviewer: asUser(alice), modified_at: T0 },
    });
    const events = decideRelinquish(withReviewer, alice, [asUser(bob)], T1);
    expect(events.map((e) => e.type)).toEqual(['ThreatModelDetailsChanged', 'ThreatModelAccessChanged']);
    const after = events.reduce(evolve, withReviewer);
    expect(after.exists && after.security_reviewer).toBeNull();
    expect(roles(after)).not.toHaveProperty('user:alice@tmi.local');
  });
});
