import { describe, expect, it } from 'vitest';
import { DIAGRAM_CELLS_PATCHED, type StoredCell } from '../../src/commands/diagrams/index.js';
import { inverseOf, undoHistory, type HistoryEvent } from '../../src/realtime/operations/history.js';

const cell = (id: string, x = 0) => ({ id, shape: 'process', x, y: 0, width: 40, height: 30 }) as StoredCell;
const event = (version: number, user: string, session: string, history?: { kind: 'undo' | 'redo'; of: number }): HistoryEvent => ({
  type: DIAGRAM_CELLS_PATCHED, version,
  data: { user_id: user, session_id: session, cells: [], ...(history ? { history } : {}) },
});

describe('undo history from the events', () => {
  it('stacks a user\'s operations of one session; undo moves one to redo, redo moves it back, a new operation clears redo', () => {
    const events = [event(2, 'u', 's'), event(3, 'v', 's'), event(4, 'u', 's'), event(5, 'u', 'other'), event(6, 'u', 's', { kind: 'undo', of: 4 })];
    expect(undoHistory(events, 'u', 's')).toEqual({ undo: [2], redo: [6] });
    expect(undoHistory([...events, event(7, 'u', 's', { kind: 'redo', of: 6 })], 'u', 's')).toEqual({ undo: [2, 7], redo: [] });
    expect(undoHistory([...events, event(7, 'u', 's')], 'u', 's')).toEqual({ undo: [2, 7], redo: [] });
    expect(undoHistory(events, 'v', 's')).toEqual({ undo: [3], redo: [] });
    expect(undoHistory([{ type: 'DiagramChanged', version: 8, data: {} }], 'u', 's')).toEqual({ undo: [], redo: [] });
  });
  it('inverts an operation last change first: an add is removed, a remove added back, an update set back', () => {
    expect(inverseOf([
      { id: 'a', operation: 'add', cell: cell('a') },
      { id: 'b', operation: 'update', cell: cell('b', 9), before: cell('b', 1) },
      { id: 'c', operation: 'remove', before: cell('c') },
    ])).toEqual([
      { id: 'c', operation: 'add', data: cell('c') },
      { id: 'b', operation: 'update', data: cell('b', 1) },
      { id: 'a', operation: 'remove' },
    ]);
  });
});
