import { describe, expect, it } from 'vitest';
import type { ChildCommand, ChildEvent, ChildState } from '../../src/commands/child-resources/index.js';
import { threats, type ThreatFields } from '../../src/commands/threats/index.js';
import type { Role } from '../../src/commands/threat-models/values.js';
import { specification } from '../helpers/decider.js';

/** The shared child lifecycle, specified through threats (every kind shares this decider). */
const given = specification<ChildState<ThreatFields>, ChildCommand, ChildEvent>(threats.decider);
const TM = '0190a000-0000-7000-8000-0000000000aa';
const OTHER_TM = '0190a000-0000-7000-8000-0000000000bb';
const ID = '0190a000-0000-7000-8000-0000000000c1';
const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-02T00:00:00.000Z';

const base = (role: Role = 'writer', now = T1) => ({ role, threat_model_id: TM, now });
const create = (input: Record<string, unknown> = {}, role: Role = 'writer'): ChildCommand =>
  ({ ...base(role, T0), type: 'Create', id: ID, alias: 3, auto_generated: false, input: { name: 'SQL injection', ...input } });
const created = (input: Record<string, unknown> = {}) => given().when(create(input)).events();
const defaults: ThreatFields = {
  name: 'SQL injection', description: null, mitigation: null, diagram_id: null, cell_id: null, asset_id: null, severity: null, score: null,
  priority: null, mitigated: false, status: null, threat_type: [], issue_uri: null, cwe_id: [], cvss: [], ssvc: null, include_in_report: true, timmy_enabled: true,
};

describe('creating a child', () => {
  it('records the fields with TMI\'s defaults, its parent and alias', () => {
    given().when(create()).then([{ type: 'ThreatCreated', data: { threat_model_id: TM, id: ID, alias: 3, fields: defaults, auto_generated: false, created_at: T0 } }]);
  });
  it('records metadata given with it as metadata events on its own stream', () => {
    const events = given().when(create({ metadata: [{ key: 'cwe', value: 'CWE-89' }] })).events();
    expect(events.map((e) => e.type)).toEqual(['ThreatCreated', 'MetadataEntriesSet']);
    expect(events[1]!.data).toEqual({ entity_type: 'threat', entity_id: ID, entries: [{ key: 'cwe', value: 'CWE-89' }], at: T0 });
  });
  it('needs the writer role on the parent', () => {
    given().when(create({}, 'reader')).thenRefused('forbidden', /writer/);
  });
  it('refuses an id that exists', () => {
    given(...created()).when(create()).thenRefused('conflict');
  });
  it('refuses a score with more than one decimal place, and accepts values binary floats cannot hold exactly', () => {
    given().when(create({ score: 7.25 })).thenRefused('invalid', /score/);
    expect(given().when(create({ score: 0.3 })).after()).toMatchObject({ fields: { score: 0.3 } });
    given().when(create({ cvss: [{ vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', score: 9.85 }] })).thenRefused('invalid', /cvss\[0\]/);
  });
});

describe('replacing and patching', () => {
  it('a replacement records the whole new field set; an identical one records nothing', () => {
    const history = created({ severity: 'High' });
    given(...history).when({ ...base(), type: 'Replace', input: { name: 'SQL injection', severity: 'Low' } })
      .then([{ type: 'ThreatChanged', data: { threat_model_id: TM, id: ID, fields: { ...defaults, severity: 'Low' }, modified_at: T1 } }]);
    given(...history).when({ ...base(), type: 'Replace', input: { name: 'SQL injection', severity: 'High' } }).thenNothing();
  });
  it('a replacement without metadata keeps it; with metadata replaces it', () => {
    const history = created({ metadata: [{ key: 'a', value: '1' }] });
    expect(given(...history).when({ ...base(), type: 'Replace', input: { name: 'x' } }).after()).toMatchObject({ metadata: [{ key: 'a', value: '1' }] });
    expect(given(...history).when({ ...base(), type: 'Replace', input: { name: 'x', metadata: [{ key: 'b', value: '2' }] } }).after())
      .toMatchObject({ metadata: [{ key: 'b', value: '2' }] });
  });
  it('a patch changes writable members and metadata, re-checking the result', () => {
    const after = given(...created()).when({ ...base(), type: 'Patch', operations: [
      { op: 'replace', path: '/severity', value: 'Critical' }, { op: 'add', path: '/threat_type/-', value: 'Tampering' },
      { op: 'add', path: '/metadata/-', value: { key: 'k', value: 'v' } },
    ] }).after();
    expect(after).toMatchObject({ fields: { severity: 'Critical', threat_type: ['Tampering'] }, metadata: [{ key: 'k', value: 'v' }] });
  });
  it('a patch may test read-only members but never change them, nor unknown ones', () => {
    const history = created();
    given(...history).when({ ...base(), type: 'Patch', operations: [{ op: 'replace', path: '/alias', value: 9 }] }).thenRefused('invalid', /read-only/);
    given(...history).when({ ...base(), type: 'Patch', operations: [{ op: 'add', path: '/color', value: 'red' }] }).thenRefused('invalid', /read-only or unknown/);
    given(...history).when({ ...base(), type: 'Patch', operations: [{ op: 'test', path: '/alias', value: 3 }, { op: 'replace', path: '/name', value: 'n' }] })
      .then([expect.objectContaining({ type: 'ThreatChanged' })]);
    given(...history).when({ ...base(), type: 'Patch', operations: [{ op: 'test', path: '/alias', value: 4 }] }).thenRefused('conflict');
  });
  it('a patch that breaks a limit is refused, naming where', () => {
    given(...created()).when({ ...base(), type: 'Patch', operations: [{ op: 'replace', path: '/name', value: '' }] }).thenRefused('invalid', /name/);
    given(...created()).when({ ...base(), type: 'Patch', operations: [{ op: 'replace', path: '/score', value: 11 }] }).thenRefused('invalid', /score/);
  });
  it('writes need the writer role', () => {
    given(...created()).when({ ...base('reader'), type: 'Replace', input: { name: 'x' } }).thenRefused('forbidden');
    given(...created()).when({ ...base('reader'), type: 'ChangeMetadata', change: { kind: 'add', entry: { key: 'k', value: 'v' } } }).thenRefused('forbidden');
  });
});

describe('deleting and restoring', () => {
  const deleted = () => [...created(), { type: 'ThreatDeleted', data: { threat_model_id: TM, id: ID, deleted_at: T1 } }];
  it('a writer deletes a threat; the deleted one is gone for every later command but restore', () => {
    given(...created()).when({ ...base(), type: 'Delete' }).then([{ type: 'ThreatDeleted', data: { threat_model_id: TM, id: ID, deleted_at: T1 } }]);
    given(...deleted()).when({ ...base(), type: 'Replace', input: { name: 'x' } }).thenRefused('not_found');
    given(...deleted()).when({ ...base(), type: 'Delete' }).thenRefused('not_found');
  });
  it('restoring needs the owner role and a deleted child', () => {
    given(...deleted()).when({ ...base('writer'), type: 'Restore' }).thenRefused('forbidden', /owner/);
    given(...deleted()).when({ ...base('owner'), type: 'Restore' }).then([{ type: 'ThreatRestored', data: { threat_model_id: TM, id: ID, restored_at: T1 } }]);
    given(...created()).when({ ...base('owner'), type: 'Restore' }).thenRefused('conflict');
  });
  it('a child is only reached through its own parent', () => {
    given(...created()).when({ ...base(), threat_model_id: OTHER_TM, type: 'Replace', input: { name: 'x' } }).thenRefused('not_found');
    given().when({ ...base(), type: 'Delete' }).thenRefused('not_found');
  });
});
