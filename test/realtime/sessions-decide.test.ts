import { describe, expect, it } from 'vitest';
import type { Role, User } from '../../src/commands/threat-models/values.js';
import { collaborationDecider, type CollaborationCommand, type CollaborationState } from '../../src/realtime/sessions/decide.js';
import type { CollaborationEvent } from '../../src/realtime/sessions/events.js';
import { specification } from '../helpers/decider.js';

const given = specification<CollaborationState, CollaborationCommand, CollaborationEvent>(collaborationDecider);
const TM = '0190a000-0000-7000-8000-0000000000aa';
const DIAGRAM = '0190a000-0000-7000-8000-0000000000d1';
const SESSION = '0190a000-0000-7000-8000-0000000000e1';
const OTHER_SESSION = '0190a000-0000-7000-8000-0000000000e2';
const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';

const user = (name: string): User => ({ principal_type: 'user', provider: 'tmi', provider_id: `${name}@tmi.local`, display_name: name, email: `${name}@tmi.local` });
const actor = (name: string, role: Role, now = T0) => ({ user_id: `id-${name}`, user: user(name), role, now });
const join = (name: string, role: Role, now = T0, session_id = SESSION): CollaborationCommand =>
  ({ type: 'Join', actor: actor(name, role, now), session_id, threat_model_id: TM, diagram_id: DIAGRAM });
const end = (name: string, role: Role): CollaborationCommand => ({ type: 'End', actor: actor(name, role, T1), reason: 'ended_by_request' });
const ref = { session_id: SESSION, threat_model_id: TM, diagram_id: DIAGRAM };
const started: CollaborationEvent = { type: 'CollaborationSessionStarted', data: { ...ref, host_user_id: 'id-olga', host: user('olga'), started_at: T0 } };
const joined = (name: string, permissions: 'reader' | 'writer', at = T0): CollaborationEvent =>
  ({ type: 'CollaborationParticipantJoined', data: { ...ref, user_id: `id-${name}`, user: user(name), permissions, joined_at: at } });

describe('joining a diagram\'s collaboration', () => {
  it('starts a session when none is active: the caller is its host and first participant', () => {
    given().when(join('olga', 'owner')).then([started, joined('olga', 'writer')]);
  });
  it('joins the active session, whatever session id the new command proposed', () => {
    given(started, joined('olga', 'writer')).when(join('walt', 'writer', T1, OTHER_SESSION)).then([joined('walt', 'writer', T1)]);
  });
  it('gives a reader a read-only place and a writer or owner an editing one', () => {
    given(started).when(join('rita', 'reader')).then([joined('rita', 'reader')]);
    given(started).when(join('olga', 'owner')).then([joined('olga', 'writer')]);
  });
  it('records nothing for a participant who joins again with the same permission', () => {
    given(started, joined('walt', 'writer')).when(join('walt', 'writer', T1)).thenNothing();
  });
  it('records the new permission of a participant whose role changed', () => {
    given(started, joined('walt', 'writer')).when(join('walt', 'reader', T1)).then([joined('walt', 'reader', T1)]);
  });
  it('starts a new session after the last one ended', () => {
    const ended: CollaborationEvent = { type: 'CollaborationSessionEnded', data: { ...ref, ended_by: 'id-olga', reason: 'ended_by_request', ended_at: T1 } };
    const events = given(started, joined('olga', 'writer'), ended).when(join('walt', 'writer', T1, OTHER_SESSION)).events();
    given().when(join('walt', 'writer', T1, OTHER_SESSION)).then(events);
  });
});

describe('ending a session', () => {
  const active = [started, joined('olga', 'writer'), joined('walt', 'writer')];
  it('is the host\'s to do', () => {
    given(...active).when(end('olga', 'writer')).then([{ type: 'CollaborationSessionEnded', data: { ...ref, ended_by: 'id-olga', reason: 'ended_by_request', ended_at: T1 } }]);
  });
  it('or an owner\'s of the threat model', () => {
    given(...active).when(end('walt', 'owner')).then([{ type: 'CollaborationSessionEnded', data: { ...ref, ended_by: 'id-walt', reason: 'ended_by_request', ended_at: T1 } }]);
  });
  it('is refused to any other participant', () => {
    given(...active).when(end('walt', 'writer')).thenRefused('forbidden');
  });
  it('for a named session ends only that one: a late end of an older session finds nothing', () => {
    given(...active).when({ ...end('olga', 'writer'), session_id: OTHER_SESSION } as CollaborationCommand).thenRefused('not_found');
    given(...active).when({ ...end('olga', 'writer'), session_id: SESSION } as CollaborationCommand).then([{ type: 'CollaborationSessionEnded', data: { ...ref, ended_by: 'id-olga', reason: 'ended_by_request', ended_at: T1 } }]);
  });
  it('finds nothing when no session is active', () => {
    given().when(end('olga', 'owner')).thenRefused('not_found');
  });
  it('by the service (the retention sweep) needs no role, and ends only the session it names', () => {
    const expire = (session_id: string): CollaborationCommand => ({ type: 'Expire', session_id, reason: 'expired', now: T1 });
    given(...active).when(expire(SESSION)).then([{ type: 'CollaborationSessionEnded', data: { ...ref, ended_by: 'system', reason: 'expired', ended_at: T1 } }]);
    given(...active).when(expire(OTHER_SESSION)).thenNothing();
    given().when(expire(SESSION)).thenNothing();
  });
});

describe('removing a participant', () => {
  const active = [started, joined('olga', 'writer'), joined('walt', 'writer')];
  const remove = (by: string, user: string, role: Role = 'writer'): CollaborationCommand => ({ type: 'Remove', actor: actor(by, role, T1), user_id: `id-${user}` });
  const removed: CollaborationEvent = { type: 'CollaborationParticipantRemoved', data: { ...ref, user_id: 'id-walt', removed_by: 'id-olga', removed_at: T1 } };
  it('is the host\'s to do, and keeps the removed user out of this session', () => {
    given(...active).when(remove('olga', 'walt')).then([removed]);
    given(...active, removed).when(join('walt', 'writer', T1)).thenRefused('forbidden');
    given(...active, removed).when(join('rita', 'reader', T1)).then([joined('rita', 'reader', T1)]);
  });
  it('is refused to anyone else, even an owner, and for the host themselves or a stranger', () => {
    given(...active).when(remove('walt', 'olga', 'owner')).thenRefused('forbidden');
    given(...active).when(remove('olga', 'olga')).thenRefused('invalid');
    given(...active).when(remove('olga', 'sam')).thenRefused('not_found');
  });
  it('does not follow the user into the next session', () => {
    const ended: CollaborationEvent = { type: 'CollaborationSessionEnded', data: { ...ref, ended_by: 'id-olga', reason: 'host_left', ended_at: T1 } };
    expect(given(...active, removed, ended).when(join('walt', 'writer', T1, OTHER_SESSION)).events()[0]!.type).toBe('CollaborationSessionStarted');
  });
});

