import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { CellChange, DiagramCellsPatchedData } from '../commands/diagrams/index.js';
import { UUID_PATTERN, type User } from '../commands/threat-models/values.js';
import type { RejectionReason } from './operations/decide.js';

/**
 * TMI's WebSocket messages (contract/tmi-asyncapi.yml): what a client may send, checked here
 * before anything reads it, and what the hub sends, built here so every message has its
 * contract's members and no others.
 */
const Uuid = Type.String({ maxLength: 36, pattern: UUID_PATTERN });
const Vector = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const DiagramOperationRequest = Type.Object({
  message_type: Type.Literal('diagram_operation_request'),
  operation_id: Uuid,
  base_vector: Vector,
  operation: Type.Object({
    type: Type.Literal('patch'),
    cells: Type.Array(Type.Object({
      id: Uuid,
      operation: Type.Union([Type.Literal('add'), Type.Literal('update'), Type.Literal('remove')]),
      // The cell itself is checked by the decision, which names what is wrong with it.
      data: Type.Optional(Type.Object({}, { additionalProperties: true })),
      // The contract leaves a cell item open: members beyond these are ignored.
    }, { additionalProperties: true }), { minItems: 1, maxItems: 1000 }),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
export type DiagramOperationRequest = Static<typeof DiagramOperationRequest>;

export const SyncRequest = Type.Object({
  message_type: Type.Literal('sync_request'),
  update_vector: Type.Optional(Type.Union([Vector, Type.Null()])),
}, { additionalProperties: false });

/** A message of one type with exactly these members. */
const only = (type: string, members: Record<string, ReturnType<typeof Type.Object> | ReturnType<typeof Type.Array>> = {}) =>
  Type.Object({ message_type: Type.Literal(type), ...members }, { additionalProperties: false });

export const SyncStatusRequest = only('sync_status_request');
export const UndoRequest = only('undo_request');
export const RedoRequest = only('redo_request');

/** A user as a client names one: matched by provider and provider id, the rest ignored. */
const NamedUser = Type.Object({ provider: Type.String({ minLength: 1, maxLength: 100 }), provider_id: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: true });

export const PresenterRequest = only('presenter_request');
export const ChangePresenterRequest = only('change_presenter_request', { new_presenter: NamedUser });
export const PresenterDeniedRequest = only('presenter_denied_request', { denied_user: NamedUser });
export const RemoveParticipantRequest = only('remove_participant_request', { removed_user: NamedUser });
export const PresenterCursor = only('presenter_cursor', { cursor_position: Type.Object({ x: Type.Number(), y: Type.Number() }, { additionalProperties: false }) });
export const PresenterSelection = only('presenter_selection', { selected_cells: Type.Array(Uuid, { maxItems: 10_000 }) });

export const inbound = {
  diagram_operation_request: TypeCompiler.Compile(DiagramOperationRequest),
  sync_request: TypeCompiler.Compile(SyncRequest),
  sync_status_request: TypeCompiler.Compile(SyncStatusRequest),
  undo_request: TypeCompiler.Compile(UndoRequest),
  redo_request: TypeCompiler.Compile(RedoRequest),
  presenter_request: TypeCompiler.Compile(PresenterRequest),
  change_presenter_request: TypeCompiler.Compile(ChangePresenterRequest),
  presenter_denied_request: TypeCompiler.Compile(PresenterDeniedRequest),
  remove_participant_request: TypeCompiler.Compile(RemoveParticipantRequest),
  presenter_cursor: TypeCompiler.Compile(PresenterCursor),
  presenter_selection: TypeCompiler.Compile(PresenterSelection),
};
export type InboundType = keyof typeof inbound;

const timestamp = () => new Date().toISOString();

/** The cells of an operation as TMI broadcasts them: each with its data after the change (none for a remove). */
const patchOf = (changes: readonly CellChange[]) => ({
  type: 'patch' as const,
  cells: changes.map((c) => (c.operation === 'remove' ? { id: c.id, operation: c.operation } : { id: c.id, operation: c.operation, data: c.cell })),
});

export const outbound = {
  operationEvent: (data: DiagramCellsPatchedData, sequence: number) => ({
    message_type: 'diagram_operation_event', initiating_user: data.user, operation_id: data.operation_id,
    sequence_number: sequence, update_vector: sequence, operation: patchOf(data.cells),
  }),
  diagramState: (diagramId: string, version: number, cells: readonly object[], palette: unknown) => ({
    message_type: 'diagram_state', diagram_id: diagramId, update_vector: version, cells, ...(palette !== undefined ? { color_palette: palette } : {}),
  }),
  syncStatus: (version: number) => ({ message_type: 'sync_status_response', update_vector: version }),
  rejected: (operationId: string, version: number, r: { reason: RejectionReason; message: string; details?: string; affected: string[]; resync: boolean }) => ({
    message_type: 'operation_rejected', operation_id: operationId, update_vector: version, reason: r.reason, message: r.message,
    ...(r.details ? { details: r.details } : {}), affected_cells: r.affected, requires_resync: r.resync, timestamp: timestamp(),
  }),
  /** TMI's answer when there is nothing to undo or redo (its web client's message; the AsyncAPI document lacks it). */
  historyOperation: (kind: 'undo' | 'redo') => ({ message_type: 'history_operation', operation_type: kind, message: kind === 'undo' ? 'no_operations_to_undo' : 'no_operations_to_redo' }),
  authorizationDenied: (operationId: string, reason: 'insufficient_permissions' | 'read_only_user' | 'invalid_user') => ({
    message_type: 'authorization_denied', original_operation_id: operationId, reason,
  }),
  error: (error: string, message: string, details?: Record<string, unknown>) => ({
    message_type: 'error', error, message, ...(details ? { details } : {}), timestamp: timestamp(),
  }),
  presenterRequestEvent: (requesting: User) => ({ message_type: 'presenter_request_event', requesting_user: requesting }),
  presenterDeniedEvent: (denied: User) => ({ message_type: 'presenter_denied_event', denied_user: denied }),
  participants: (participants: { user: User; permissions: 'reader' | 'writer'; last_activity: string }[], host: User, presenter: User | null) => ({
    message_type: 'participants_update', participants, host, current_presenter: presenter,
  }),
};
