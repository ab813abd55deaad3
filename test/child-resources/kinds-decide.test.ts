import { describe, expect, it } from 'vitest';
import { assets } from '../../src/commands/assets/index.js';
import type { ChildAggregate, ChildCommand, ChildEvent, ChildState } from '../../src/commands/child-resources/index.js';
import { diagrams } from '../../src/commands/diagrams/index.js';
import { documents } from '../../src/commands/documents/index.js';
import { notes } from '../../src/commands/notes/index.js';
import { repositories } from '../../src/commands/repositories/index.js';
import type { Role } from '../../src/commands/threat-models/values.js';
import { specification } from '../helpers/decider.js';

/** What is particular to each plain kind: its defaults, its enums and limits under a patch, its own rules. The lifecycle is in decide.test.ts. */
const TM = '0190a000-0000-7000-8000-0000000000aa';
const ID = '0190a000-0000-7000-8000-0000000000c1';
const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-02T00:00:00.000Z';

function kind<F extends object>(aggregate: ChildAggregate<F>) {
  const given = specification<ChildState<F>, ChildCommand, ChildEvent>(aggregate.decider);
  const base = (role: Role = 'writer') => ({ role, threat_model_id: TM, now: T1 });
  const create = (input: Record<string, unknown>): ChildCommand => ({ ...base(), now: T0, type: 'Create', id: ID, alias: 1, auto_generated: false, input });
  return {
    given,
    create,
    /** The fields a create records. */
    recorded: (input: Record<string, unknown>) => (given().when(create(input)).events()[0]!.data as { fields: unknown }).fields,
    /** A patch on a child created from `input`. */
    patch: (input: Record<string, unknown>, operations: Extract<ChildCommand, { type: 'Patch' }>['operations']) =>
      given(...given().when(create(input)).events()).when({ ...base(), type: 'Patch', operations }),
    delete: (input: Record<string, unknown>, role: Role) => given(...given().when(create(input)).events()).when({ ...base(role), type: 'Delete' }),
  };
}

describe('documents', () => {
  const d = kind(documents);
  const input = { name: 'Review', uri: 'https://docs.example.com/r.pdf' };
  it('records TMI\'s defaults, in events named after the kind', () => {
    d.given().when(d.create(input)).then([{
      type: 'DocumentCreated',
      data: { threat_model_id: TM, id: ID, alias: 1, auto_generated: false, created_at: T0, fields: { ...input, description: null, include_in_report: true, timmy_enabled: true } },
    }]);
  });
  it('refuses a picker registration, which needs a content provider; null is none', () => {
    d.given().when(d.create({ ...input, picker_registration: { provider_id: 'microsoft', file_id: 'f', mime_type: 'text/plain' } })).thenRefused('invalid', /picker_registration/);
    expect(d.recorded({ ...input, picker_registration: null })).not.toHaveProperty('picker_registration');
  });
  it('a patch keeps the uri a uri and cannot add a picker registration', () => {
    d.patch(input, [{ op: 'replace', path: '/uri', value: 'not a uri' }]).thenRefused('invalid', /uri/);
    d.patch(input, [{ op: 'add', path: '/picker_registration', value: {} }]).thenRefused('invalid', /read-only or unknown/);
    d.patch(input, [{ op: 'replace', path: '/uri', value: 'ftp://files.example.com/r.pdf' }]).then([expect.objectContaining({ type: 'DocumentChanged' })]);
  });
  it('a writer may delete it', () => {
    d.delete(input, 'writer').then([expect.objectContaining({ type: 'DocumentDeleted' })]);
    d.delete(input, 'reader').thenRefused('forbidden', /writer/);
  });
});

describe('repositories', () => {
  const r = kind(repositories);
  const input = { uri: 'https://github.com/example/payments' };
  it('needs only a uri: name, type and parameters default to none', () => {
    expect(r.recorded(input)).toEqual({ ...input, name: null, description: null, type: null, parameters: null, include_in_report: true, timmy_enabled: true });
  });
  it('a patch keeps type and parameters within the contract\'s enums', () => {
    r.patch(input, [{ op: 'replace', path: '/type', value: 'cvs' }]).thenRefused('invalid', /type/);
    r.patch(input, [{ op: 'replace', path: '/parameters', value: { refType: 'branch' } }]).thenRefused('invalid', /parameters/);
    r.patch(input, [{ op: 'replace', path: '/parameters', value: { refType: 'revision', refValue: '1' } }]).thenRefused('invalid', /parameters/);
    expect(r.patch(input, [{ op: 'replace', path: '/parameters', value: { refType: 'tag', refValue: 'v1' } }, { op: 'add', path: '/parameters/subPath', value: 'api' }]).after())
      .toMatchObject({ fields: { parameters: { refType: 'tag', refValue: 'v1', subPath: 'api' } } });
  });
  it('a patch may take its name away (the name is optional), not its uri', () => {
    expect(r.patch({ ...input, name: 'payments' }, [{ op: 'remove', path: '/name' }]).after()).toMatchObject({ fields: { name: null } });
    r.patch(input, [{ op: 'remove', path: '/uri' }]).thenRefused('invalid', /uri/);
  });
});

describe('notes', () => {
  const n = kind(notes);
  const input = { name: 'Findings', content: '# Findings' };
  it('records TMI\'s defaults', () => {
    expect(n.recorded(input)).toEqual({ ...input, description: null, include_in_report: true, timmy_enabled: true });
  });
  it('a patch keeps content non-empty and free of control characters but line breaks and tabs', () => {
    n.patch(input, [{ op: 'replace', path: '/content', value: '' }]).thenRefused('invalid', /content/);
    n.patch(input, [{ op: 'replace', path: '/content', value: 'nul\u0000' }]).thenRefused('invalid', /content/);
    expect(n.patch(input, [{ op: 'replace', path: '/content', value: 'a\n\tb\r\n' }]).after()).toMatchObject({ fields: { content: 'a\n\tb\r\n' } });
  });
});

describe('assets', () => {
  const a = kind(assets);
  const input = { name: 'Customer database', type: 'data' };
  it('records TMI\'s defaults: no classification, criticality or sensitivity', () => {
    expect(a.recorded(input)).toEqual({ ...input, description: null, criticality: null, classification: null, sensitivity: null, include_in_report: true, timmy_enabled: true });
  });
  it('a patch keeps the type one of the contract\'s and at most 50 classification tags', () => {
    a.patch(input, [{ op: 'replace', path: '/type', value: 'gadget' }]).thenRefused('invalid', /type/);
    a.patch(input, [{ op: 'replace', path: '/classification', value: Array.from({ length: 51 }, (_, i) => `t${i}`) }]).thenRefused('invalid', /classification/);
    // No tags yet: there is no list to append to.
    a.patch(input, [{ op: 'add', path: '/classification/-', value: 'pii' }]).thenRefused('invalid');
    expect(a.patch(input, [{ op: 'add', path: '/classification', value: ['pii'] }, { op: 'add', path: '/classification/-', value: 'pci' }]).after())
      .toMatchObject({ fields: { classification: ['pii', 'pci'] } });
  });
});

describe('diagrams', () => {
  const g = kind(diagrams);
  const input = { name: 'Context', type: 'DFD-1.0.0' };
  const cell = (n: number) => `0190a000-0000-7000-8000-00000000000${n}`;
  const node = (n: number, more: Record<string, unknown> = {}) => ({ id: cell(n), shape: 'process', x: 0, y: 0, width: 40, height: 30, ...more });
  const withCells = { ...input, cells: [node(1), node(2), { id: cell(3), shape: 'flow', source: { cell: cell(1) }, target: { cell: cell(2) } }] };
  it('records TMI\'s defaults: no cells, image or palette', () => {
    expect(g.recorded(input)).toEqual({ ...input, cells: [], image: null, color_palette: null, include_in_report: true, timmy_enabled: true });
  });
  it('records a node\'s geometry flat, from either form, and drops members the contract lacks', () => {
    const cells = (g.recorded({ ...input, cells: [{ id: cell(1), shape: 'actor', position: { x: 1, y: 2 }, size: { width: 50, height: 40 }, x: 9, zIndex: 2 }] }) as { cells: unknown[] }).cells;
    expect(cells).toEqual([{ id: cell(1), shape: 'actor', x: 1, y: 2, width: 50, height: 40 }]);
  });
  it('a patch keeps edges between nodes of the diagram and cell ids unique', () => {
    g.patch(withCells, [{ op: 'remove', path: '/cells/1' }]).thenRefused('invalid', /target/);
    g.patch(withCells, [{ op: 'add', path: '/cells/-', value: node(1) }]).thenRefused('invalid', /more than once/);
    g.patch(withCells, [{ op: 'replace', path: '/cells/2/target/cell', value: cell(3) }]).thenRefused('invalid', /not a node/);
    g.patch(withCells, [{ op: 'replace', path: '/cells/0/width', value: 39 }]).thenRefused('invalid', /cells/);
    g.patch(withCells, [{ op: 'replace', path: '/type', value: 'DFD-2.0.0' }]).thenRefused('invalid', /type/);
    expect(g.patch(withCells, [{ op: 'add', path: '/cells/-', value: { id: cell(4), shape: 'store', position: { x: 5, y: 6 } } }]).after())
      .toMatchObject({ fields: { cells: [node(1), node(2), expect.anything(), { id: cell(4), shape: 'store', x: 5, y: 6, width: 40, height: 30 }] } });
  });
  it('only the owner deletes one', () => {
    g.delete(input, 'writer').thenRefused('forbidden', /owner/);
    g.delete(input, 'owner').then([expect.objectContaining({ type: 'DiagramDeleted' })]);
  });
});
