import { Type, type Static } from '@sinclair/typebox';
import type { EventDefinition } from '../../events/catalog.js';
import { User } from '../threat-models/values.js';
import type { StoredCell } from './cells.js';

/**
 * A diagram's cells changed by one realtime operation (TMI's `diagram_operation_request`): one
 * event on the diagram's stream, whose version is the operation's sequence number. Each change
 * carries the cell after it (add, update) and before it (update, remove), so an undo is the
 * inverse read from the event alone and an auditor sees what was there.
 */
export const DIAGRAM_CELLS_PATCHED = 'DiagramCellsPatched';

const CellChange = Type.Object({
  id: Type.String(),
  operation: Type.Union([Type.Literal('add'), Type.Literal('update'), Type.Literal('remove')]),
  // Structural only, as every stored event: a cell limit that changes later must not make old events invalid.
  cell: Type.Optional(Type.Unknown()),
  before: Type.Optional(Type.Unknown()),
});

export const DiagramCellsPatchedData = Type.Object({
  threat_model_id: Type.String(),
  id: Type.String(),
  operation_id: Type.String(),
  user_id: Type.String(),
  user: User,
  cells: Type.Array(CellChange, { minItems: 1 }),
  modified_at: Type.String(),
  /** The collaboration session it was made in: a user's undo history is per session. */
  session_id: Type.Optional(Type.String()),
  /** An undo (`of`: the operation it reverts) or a redo (`of`: the undo it reverts). */
  history: Type.Optional(Type.Object({ kind: Type.Union([Type.Literal('undo'), Type.Literal('redo')]), of: Type.Integer({ minimum: 1 }) })),
});

export interface CellChange {
  id: string;
  operation: 'add' | 'update' | 'remove';
  cell?: StoredCell;
  before?: StoredCell;
}
export type DiagramCellsPatchedData = Omit<Static<typeof DiagramCellsPatchedData>, 'cells'> & { cells: CellChange[] };

export const diagramOperationEventDefinitions: EventDefinition[] = [{ type: DIAGRAM_CELLS_PATCHED, version: 1, schema: DiagramCellsPatchedData }];

/** The cells after the changes, in order: an added cell goes last, an updated one keeps its place. */
export function applyCellChanges(cells: readonly StoredCell[], changes: readonly CellChange[]): StoredCell[] {
  let out = [...cells];
  for (const change of changes) {
    if (change.operation === 'add') out.push(change.cell!);
    else if (change.operation === 'update') out = out.map((c) => (c.id === change.id ? change.cell! : c));
    else out = out.filter((c) => c.id !== change.id);
  }
  return out;
}
