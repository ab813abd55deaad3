import { isDeepStrictEqual } from 'node:util';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import {
  DIAGRAM_CELLS_PATCHED, MAX_CELLS, StoredCell, applyCellChanges, checkCells, normalizeCell,
  type CellChange, type DiagramCellsPatchedData, type StoredCell as Cell,
} from '../../commands/diagrams/index.js';
import { DomainError } from '../../commands/errors.js';
import type { User } from '../../commands/threat-models/values.js';

/** One cell of a `diagram_operation_request`, as the client sent it. */
export interface RequestedCell { id: string; operation: 'add' | 'update' | 'remove'; data?: unknown }

/** TMI's reasons for an `operation_rejected`. */
export type RejectionReason = 'validation_failed' | 'conflict_detected' | 'no_state_change' | 'diagram_not_found' | 'permission_denied' | 'invalid_operation_type' | 'empty_operation';

/** Why an operation was not applied: it takes no sequence number and changes nothing. */
export class OperationRejected extends Error {
  constructor(
    readonly reason: RejectionReason,
    message: string,
    readonly affectedCells: string[] = [],
    readonly requiresResync = false,
    readonly details?: string,
  ) {
    super(message);
    this.name = 'OperationRejected';
  }
}

/** An event of the diagram's stream after the operation's base, as the decision reads it. */
export interface LaterEvent { type: string; version: number; data: unknown }

export interface OperationInput {
  threat_model_id: string;
  diagram_id: string;
  /** The diagram's cells now, and its stream version (the update vector). */
  cells: readonly Cell[];
  version: number;
  /** Every event of the diagram's stream after `base_vector`, in order. */
  since: readonly LaterEvent[];
  operation_id: string;
  base_vector: number;
  requested: readonly RequestedCell[];
  user_id: string;
  user: User;
  now: string;
  session_id?: string;
  /** Set for an undo or a redo: the event it reverts. */
  history?: DiagramCellsPatchedData['history'];
}

/**
 * The members of a cell that are last-writer-wins: where a node sits and how big it is, and an
 * edge's bend points. Two people dragging the same node is not a conflict worth refusing; the
 * last drag wins. Every other member conflicts when two writers change it from the same base.
 */
export const GEOMETRY = new Set(['x', 'y', 'width', 'height', 'vertices']);

const storedCell = TypeCompiler.Compile(StoredCell);

/** The top-level members whose values differ between two versions of a cell. */
function changedMembers(from: Cell, to: Cell): Set<string> {
  const out = new Set<string>();
  for (const k of new Set([...Object.keys(from), ...Object.keys(to)])) if (!isDeepStrictEqual(from[k], to[k])) out.add(k);
  return out;
}

/**
 * What happened to each cell after the base: the cell as it was at the base (null when a whole
 * replacement, a REST PUT or PATCH, changed it and the base state is not at hand), and which
 * members changed since.
 */
interface LaterHistory { atBase: Cell | null | undefined; members: Set<string>; wholesale: boolean }

function historySince(since: readonly LaterEvent[], userId: string): { cells: Map<string, LaterHistory>; replaced: boolean } {
  const cells = new Map<string, LaterHistory>();
  let replaced = false;
  for (const event of since) {
    if (event.type === DIAGRAM_CELLS_PATCHED) {
      const data = event.data as DiagramCellsPatchedData;
      // A client sending faster than its confirmations return builds on its own operations: they are no conflict.
      if (data.user_id === userId) continue;
      for (const change of data.cells) {
        // The first change after the base holds the cell as the base knew it (undefined: it did not exist).
        let seen = cells.get(change.id);
        if (!seen) cells.set(change.id, seen = { atBase: change.operation === 'add' ? undefined : change.before ?? null, members: new Set(), wholesale: false });
        // What the others changed of it, member by member; an add or remove changed all of it.
        if (change.operation === 'update' && change.before && change.cell) for (const k of changedMembers(change.before, change.cell)) seen.members.add(k);
        else seen.wholesale = true;
      }
    } else if (event.type === 'DiagramChanged') {
      replaced = true;
    }
  }
  return { cells, replaced };
}

/**
 * TMI's diagram operation, decided against the diagram as it is and what changed since the
 * client's `base_vector`. Every cell of the request applies, or none: add needs a new id, update
 * and remove an existing one, and the cells after it must be a valid diagram (edges between its
 * nodes). An update is merged member by member with what others changed since the base: members
 * only the client changed are applied, geometry is last-writer-wins, and a member both changed
 * is a conflict (`conflict_detected`, the client must resync). A remove of a cell changed since
 * the base conflicts too.
 */
export function decideDiagramOperation(input: OperationInput): DiagramCellsPatchedData {
  if (input.requested.length === 0) throw new OperationRejected('empty_operation', 'the operation names no cells');
  if (input.base_vector > input.version) {
    throw new OperationRejected('validation_failed', `base_vector ${input.base_vector} is ahead of the diagram (${input.version})`, [], true);
  }
  const ids = input.requested.map((c) => c.id);
  if (new Set(ids).size !== ids.length) throw new OperationRejected('validation_failed', 'a cell appears more than once in the operation', ids);

  const history = historySince(input.since, input.user_id);
  const current = new Map(input.cells.map((c) => [c.id, c]));
  const changes: CellChange[] = [];
  const conflicts: string[] = [];
  for (const requested of input.requested) {
    const now = current.get(requested.id);
    if (requested.operation === 'remove') {
      if (!now) throw new OperationRejected('validation_failed', `cell ${requested.id} does not exist`, [requested.id], true);
      if (history.cells.has(requested.id) || history.replaced) conflicts.push(requested.id);
      changes.push({ id: requested.id, operation: 'remove', before: now });
      continue;
    }
    if (requested.data === undefined) throw new OperationRejected('validation_failed', `cell ${requested.id}: ${requested.operation} needs its data`, [requested.id]);
    const cell = normalizeCell(requested.data) as Cell;
    if (!storedCell.Check(cell)) {
      const first = storedCell.Errors(cell).First();
      throw new OperationRejected('validation_failed', `cell ${requested.id} is not a valid node or edge`, [requested.id], false, `${first?.path || '/'}: ${first?.message ?? 'invalid'}`);
    }
    if (cell.id !== requested.id) {
      throw new OperationRejected('validation_failed', `cell data id (${cell.id}) must match the operation's id (${requested.id})`, [requested.id]);
    }
    if (requested.operation === 'add') {
      if (now) throw new OperationRejected('validation_failed', `cell ${requested.id} already exists`, [requested.id], true);
      changes.push({ id: requested.id, operation: 'add', cell });
      continue;
    }
    if (!now) throw new OperationRejected('validation_failed', `cell ${requested.id} does not exist`, [requested.id], true);
    const merged = mergeUpdate(now, cell, history.cells.get(requested.id), history.replaced);
    if (merged === null) { conflicts.push(requested.id); continue; }
    if (!isDeepStrictEqual(merged, now)) changes.push({ id: requested.id, operation: 'update', cell: merged, before: now });
  }
  if (conflicts.length > 0) {
    throw new OperationRejected('conflict_detected', `cells ${conflicts.join(', ')} were changed by someone else after update_vector ${input.base_vector}`, conflicts, true);
  }
  if (changes.length === 0) throw new OperationRejected('no_state_change', 'the operation changes nothing', ids);

  const after = applyCellChanges(input.cells, changes);
  if (after.length > MAX_CELLS) throw new OperationRejected('validation_failed', `a diagram holds at most ${MAX_CELLS} cells`, ids);
  try {
    checkCells(after);
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    const cell = typeof err.context?.cell_id === 'string' ? [err.context.cell_id] : ids;
    throw new OperationRejected('validation_failed', err.message, cell);
  }
  return {
    threat_model_id: input.threat_model_id, id: input.diagram_id, operation_id: input.operation_id, user_id: input.user_id, user: input.user,
    cells: changes, modified_at: input.now,
    ...(input.session_id !== undefined ? { session_id: input.session_id } : {}), ...(input.history ? { history: input.history } : {}),
  };
}

/**
 * An update merged with what others changed since the client's base; null for a conflict. With
 * no change by others since the base, the client's cell is taken whole. Only what the others
 * changed can conflict (the caller's own later changes are theirs to build on), and a merge that
 * is not a valid cell is a conflict too.
 */
function mergeUpdate(now: Cell, requested: Cell, later: LaterHistory | undefined, replaced: boolean): Cell | null {
  if (!later && !replaced) return requested;
  const base = later?.atBase ?? null;
  // The base is not known (a whole replacement since, or the others added or removed it): only geometry may differ from the cell now.
  if (base === null || replaced || later?.wholesale) {
    return [...changedMembers(now, requested)].every((k) => GEOMETRY.has(k)) ? requested : null;
  }
  const merged: Record<string, unknown> = { ...now };
  for (const k of changedMembers(base, requested)) {
    if (later!.members.has(k) && !GEOMETRY.has(k) && !isDeepStrictEqual(now[k], requested[k])) return null;
    if (requested[k] === undefined) delete merged[k];
    else merged[k] = requested[k];
  }
  return storedCell.Check(merged) ? merged as Cell : null;
}
