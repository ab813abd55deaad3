import { describe, expect, it } from 'vitest';
import { DIAGRAM_CELLS_PATCHED, type CellChange, type StoredCell } from '../../src/commands/diagrams/index.js';
import { OperationRejected, decideDiagramOperation, type LaterEvent, type OperationInput, type RequestedCell } from '../../src/realtime/operations/decide.js';

const TM = '0190a000-0000-7000-8000-0000000000aa';
const DIAGRAM = '0190a000-0000-7000-8000-0000000000d1';
const A = '0190a000-0000-7000-8000-00000000000a';
const B = '0190a000-0000-7000-8000-00000000000b';
const E = '0190a000-0000-7000-8000-00000000000e';
const user = (name: string) => ({ principal_type: 'user' as const, provider: 'tmi', provider_id: `${name}@tmi.local`, display_name: name, email: `${name}@tmi.local` });

const node = (id: string, extra: Record<string, unknown> = {}): StoredCell =>
  ({ id, shape: 'process', x: 10, y: 20, width: 120, height: 60, attrs: { text: { text: 'API' } }, ...extra }) as StoredCell;
const edge = (id: string, from: string, to: string): StoredCell => ({ id, shape: 'flow', source: { cell: from }, target: { cell: to } }) as StoredCell;

/** An operation by `who` (walt unless told) on the diagram holding `cells` at `version`, after `since`. */
function decide(requested: RequestedCell[], options: { cells?: StoredCell[]; version?: number; base?: number; since?: LaterEvent[]; who?: string } = {}) {
  const input: OperationInput = {
    threat_model_id: TM, diagram_id: DIAGRAM, cells: options.cells ?? [], version: options.version ?? 0, since: options.since ?? [],
    operation_id: '0190a000-0000-7000-8000-0000000000f1', base_vector: options.base ?? options.version ?? 0, requested,
    user_id: `id-${options.who ?? 'walt'}`, user: user(options.who ?? 'walt'), now: '2026-01-01T00:00:00.000Z',
  };
  return decideDiagramOperation(input);
}
function rejected(run: () => unknown): OperationRejected {
  try { run(); } catch (err) { if (err instanceof OperationRejected) return err; throw err; }
  throw new Error('the operation was not rejected');
}
/** An earlier operation by someone else, as the stream holds it. */
const later = (version: number, cells: CellChange[], who = 'olga'): LaterEvent =>
  ({ type: DIAGRAM_CELLS_PATCHED, version, data: { threat_model_id: TM, id: DIAGRAM, operation_id: 'x', user_id: `id-${who}`, user: user(who), cells, modified_at: '' } });

describe('a diagram operation', () => {
  it('adds cells in either geometry form, stored flat, with what each change was', () => {
    const data = decide([{ id: A, operation: 'add', data: { id: A, shape: 'process', position: { x: 1, y: 2 }, size: { width: 80, height: 40 } } }, { id: B, operation: 'add', data: node(B) }]);
    expect(data.cells).toEqual([
      { id: A, operation: 'add', cell: { id: A, shape: 'process', x: 1, y: 2, width: 80, height: 40 } },
      { id: B, operation: 'add', cell: node(B) },
    ]);
    expect(data).toMatchObject({ id: DIAGRAM, threat_model_id: TM, user_id: 'id-walt', user: user('walt') });
  });

  it('refuses what TMI refuses, naming the cells: an existing id added, a missing one changed or removed, an edge to nowhere', () => {
    const cells = [node(A)];
    expect(rejected(() => decide([{ id: A, operation: 'add', data: node(A) }], { cells, version: 1 }))).toMatchObject({ reason: 'validation_failed', affectedCells: [A], requiresResync: true });
    expect(rejected(() => decide([{ id: B, operation: 'update', data: node(B) }], { cells, version: 1 }))).toMatchObject({ reason: 'validation_failed', affectedCells: [B] });
    expect(rejected(() => decide([{ id: B, operation: 'remove' }], { cells, version: 1 }))).toMatchObject({ reason: 'validation_failed', affectedCells: [B] });
    expect(rejected(() => decide([{ id: E, operation: 'add', data: edge(E, A, B) }], { cells, version: 1 }))).toMatchObject({ reason: 'validation_failed', affectedCells: [E] });
    expect(rejected(() => decide([{ id: A, operation: 'update', data: node(B) }], { cells, version: 1 }))).toMatchObject({ reason: 'validation_failed' });
    expect(rejected(() => decide([{ id: B, operation: 'add', data: { id: B, shape: 'cloud' } }], { cells, version: 1 }))).toMatchObject({ reason: 'validation_failed' });
    expect(rejected(() => decide([{ id: A, operation: 'update' }], { cells, version: 1 }))).toMatchObject({ reason: 'validation_failed' });
    expect(rejected(() => decide([{ id: A, operation: 'remove' }, { id: A, operation: 'remove' }], { cells, version: 1 }))).toMatchObject({ reason: 'validation_failed' });
    expect(rejected(() => decide([], { cells, version: 1 }))).toMatchObject({ reason: 'empty_operation' });
    // Removing a node an edge still uses leaves the edge dangling.
    expect(rejected(() => decide([{ id: A, operation: 'remove' }], { cells: [node(A), node(B), edge(E, A, B)], version: 3 }))).toMatchObject({ reason: 'validation_failed', affectedCells: [E] });
  });

  it('applies all of its cells or none: an edge to a node added in the same operation is fine', () => {
    const data = decide([{ id: A, operation: 'add', data: node(A) }, { id: B, operation: 'add', data: node(B) }, { id: E, operation: 'add', data: edge(E, A, B) }]);
    expect(data.cells.map((c) => c.id)).toEqual([A, B, E]);
  });

  it('changing nothing is no_state_change, and a base ahead of the diagram needs a resync', () => {
    expect(rejected(() => decide([{ id: A, operation: 'update', data: node(A) }], { cells: [node(A)], version: 1 }))).toMatchObject({ reason: 'no_state_change', requiresResync: false });
    expect(rejected(() => decide([{ id: A, operation: 'add', data: node(A) }], { version: 1, base: 2 }))).toMatchObject({ reason: 'validation_failed', requiresResync: true });
  });

  describe('on a stale base', () => {
    const before = node(A);
    const relabelled = node(A, { attrs: { text: { text: 'Gateway' } } });
    const since = [later(2, [{ id: A, operation: 'update', cell: relabelled, before }])];
    const opts = { cells: [relabelled], version: 2, base: 1, since };

    it('refuses a change of a member someone else changed since (conflict_detected, resync)', () => {
      const err = rejected(() => decide([{ id: A, operation: 'update', data: node(A, { attrs: { text: { text: 'Edge' } } }) }], opts));
      expect(err).toMatchObject({ reason: 'conflict_detected', affectedCells: [A], requiresResync: true });
    });
    it('merges a change of other members: geometry is last-writer-wins, the other writer\'s label stays', () => {
      const data = decide([{ id: A, operation: 'update', data: node(A, { x: 300 }) }], opts);
      expect(data.cells).toEqual([{ id: A, operation: 'update', cell: { ...relabelled, x: 300 }, before: relabelled }]);
      const moved = [later(2, [{ id: A, operation: 'update', cell: node(A, { x: 50 }), before }])];
      expect(decide([{ id: A, operation: 'update', data: node(A, { x: 70 }) }], { cells: [node(A, { x: 50 })], version: 2, base: 1, since: moved }).cells[0]!.cell).toMatchObject({ x: 70 });
    });
    it('refuses to remove a cell someone else changed since', () => {
      expect(rejected(() => decide([{ id: A, operation: 'remove' }], opts))).toMatchObject({ reason: 'conflict_detected', affectedCells: [A] });
    });
    it('is no conflict when the changes since were the caller\'s own (it sends faster than its confirmations return)', () => {
      const own = [later(2, [{ id: A, operation: 'update', cell: relabelled, before }], 'walt')];
      const data = decide([{ id: A, operation: 'update', data: node(A, { attrs: { text: { text: 'Edge' } } }) }], { ...opts, since: own });
      expect(data.cells[0]!.cell).toMatchObject({ attrs: { text: { text: 'Edge' } } });
    });
    it('lets a client build on its own later changes: only what others changed can conflict', () => {
      const tagged = node(A, { data: { _metadata: [{ key: 'k', value: 'v' }] } });
      const label = (text: string, extra = {}) => node(A, { attrs: { text: { text } }, ...extra });
      // walt relabels (v2), olga tags (v3), walt relabels again from base 1.
      const history = [
        later(2, [{ id: A, operation: 'update', cell: label('One'), before }], 'walt'),
        later(3, [{ id: A, operation: 'update', cell: label('One', { data: tagged.data }), before: label('One') }]),
      ];
      const data = decide([{ id: A, operation: 'update', data: label('Two') }], { cells: [label('One', { data: tagged.data })], version: 3, base: 1, since: history });
      expect(data.cells[0]!.cell).toEqual(label('Two', { data: tagged.data }));
    });
    it('refuses a merge that would not be a valid cell', () => {
      const edged = edge(A, B, E);
      const changed = [later(2, [{ id: A, operation: 'update', cell: edged, before }])];
      expect(rejected(() => decide([{ id: A, operation: 'update', data: node(A, { x: 99 }) }], { cells: [edged, node(B), node(E)], version: 2, base: 1, since: changed })))
        .toMatchObject({ reason: 'conflict_detected' });
    });
    it('leaves cells nobody touched since alone: a stale base is no conflict for them', () => {
      const data = decide([{ id: B, operation: 'add', data: node(B) }], opts);
      expect(data.cells.map((c) => c.id)).toEqual([B]);
    });
    it('after a whole replacement (a REST write) lets through geometry only', () => {
      const replaced: LaterEvent[] = [{ type: 'DiagramChanged', version: 2, data: {} }];
      expect(decide([{ id: A, operation: 'update', data: { ...relabelled, y: 99 } }], { ...opts, since: replaced }).cells[0]!.cell).toMatchObject({ y: 99 });
      expect(rejected(() => decide([{ id: A, operation: 'update', data: node(A) }], { ...opts, since: replaced }))).toMatchObject({ reason: 'conflict_detected' });
    });
  });
});
