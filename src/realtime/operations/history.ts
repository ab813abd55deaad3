import { DIAGRAM_CELLS_PATCHED, type CellChange, type DiagramCellsPatchedData } from '../../commands/diagrams/index.js';
import type { RequestedCell } from './decide.js';

/** An event of the diagram's stream as history reads it. */
export interface HistoryEvent { type: string; version: number; data: unknown }

/**
 * What one user can undo and redo in one session, read from the diagram's events alone (so it
 * survives a reconnect and holds on any instance): the versions of their operations still in
 * effect, newest last, and of their undos that a redo would re-apply, newest last. A new
 * operation clears the redos, as every editor does.
 */
export function undoHistory(events: readonly HistoryEvent[], userId: string, sessionId: string): { undo: number[]; redo: number[] } {
  const undo: number[] = [];
  let redo: number[] = [];
  for (const e of events) {
    if (e.type !== DIAGRAM_CELLS_PATCHED) continue;
    const d = e.data as DiagramCellsPatchedData;
    if (d.user_id !== userId || d.session_id !== sessionId) continue;
    if (!d.history) {
      undo.push(e.version);
      redo = [];
    } else if (d.history.kind === 'undo') {
      const at = undo.lastIndexOf(d.history.of);
      if (at >= 0) undo.splice(at, 1);
      redo.push(e.version);
    } else {
      const at = redo.lastIndexOf(d.history.of);
      if (at >= 0) redo.splice(at, 1);
      undo.push(e.version);
    }
  }
  return { undo, redo };
}

/** The cells that put back what an operation changed: its changes inverted, last first. */
export function inverseOf(changes: readonly CellChange[]): RequestedCell[] {
  return [...changes].reverse().map((c): RequestedCell => {
    if (c.operation === 'add') return { id: c.id, operation: 'remove' };
    if (c.operation === 'remove') return { id: c.id, operation: 'add', data: c.before };
    return { id: c.id, operation: 'update', data: c.before };
  });
}
