import { createHash } from 'node:crypto';
import type { Caller } from '../commands/caller.js';
import { childStreamId, isLiveChildOf } from '../commands/child-resources/index.js';
import { DIAGRAM_CELLS_PATCHED, diagrams, type DiagramCellsPatchedData, type StoredCell } from '../commands/diagrams/index.js';
import { snapshotAfterAppend } from './snapshots.js';
import { forbidden } from '../commands/errors.js';
import { roleAtLeast, userFromCaller } from '../commands/threat-models/authorization.js';
import type { AppendResult, EventMetadata, StoredEvent } from '../events/types.js';
import { OperationRejected, decideDiagramOperation, type RequestedCell } from '../realtime/operations/decide.js';
import { inverseOf, undoHistory } from '../realtime/operations/history.js';
import { collaborationDecider } from '../realtime/sessions/decide.js';
import { collaborationStreamId } from '../realtime/sessions/events.js';
import type { Services } from '../services.js';
import { parentScope } from './child-commands.js';
import { loadAggregate } from './execute-command.js';
import { executePlannedCommand, type PlannedCommand } from './multi-stream-command.js';

const OPERATION_RETRIES = 50;

export interface OperationRequest { operation_id: string; base_vector: number; cells: RequestedCell[] }

/** An applied operation: its sequence number (the diagram stream's version it made) and what it changed. */
export interface AppliedOperation { sequence_number: number; data: DiagramCellsPatchedData; replayed: boolean }

/** The idempotency key of an operation: one user's operation id, never another user's. */
export const operationCommandId = (userId: string, operationId: string) => `diagram-operation:${userId}:${operationId}`;

const fingerprint = (cells: readonly RequestedCell[]) => createHash('sha256').update(JSON.stringify(cells)).digest('base64url');

/** What an operation is decided on: the diagram now and its stream, for the planner to read. */
interface DiagramAt { cells: StoredCell[]; version: number; eventsFrom(fromVersion: number): Promise<StoredEvent[]>; sessionStartedAt: number }

/** The cells an operation asks for and what it is built on (a client's request, or an undo's inverse). */
interface Planned { operation_id: string; base_vector: number; cells: RequestedCell[]; history?: DiagramCellsPatchedData['history'] }

/**
 * A realtime diagram operation as a command: decided in the diagram's scope (the caller's role on
 * its threat model, a writer at least; the diagram live under it), against the cells now and
 * every event since the operation's base, and appended as one event at the version it was
 * decided on. A racing operation makes it decide again (so two writers on different cells both
 * land); the parent's access condition makes a revocation in between win.
 */
function diagramOperationCommand(
  services: Services, caller: Caller, target: DiagramTarget, plan: (diagram: DiagramAt) => Promise<Planned>,
): PlannedCommand<AppliedOperation> & { snapshotAfter(appended: boolean): void } {
  const streamId = childStreamId('diagram', target.diagram_id);
  // The last decision's fold: after its append, the state a snapshot is taken of.
  let last: { from: number; after: unknown; version: number } | null = null;
  return {
    snapshotAfter(appended) {
      if (appended && last) snapshotAfterAppend(services.store, diagrams.decider, streamId, last.from, last.after, last.version);
    },
    async decide() {
      const scope = await parentScope(services, caller, target.threat_model_id);
      if (!roleAtLeast(scope.role, 'writer')) throw forbidden('editing a diagram needs the writer role', { required_role: 'writer', user_role: scope.role });
      const { state, version, snapshotVersion } = await loadAggregate(services, diagrams.decider, streamId);
      if (!isLiveChildOf(state, target.threat_model_id)) {
        throw new OperationRejected('diagram_not_found', 'the diagram does not exist', [], true);
      }
      const collaboration = await loadAggregate(services, collaborationDecider, collaborationStreamId(target.diagram_id));
      const session = collaboration.state.session;
      // A socket outliving its session (ended, or its user removed, on another instance) edits nothing.
      if (!session || session.session_id !== target.session_id || session.removed.includes(caller.user_id)) {
        throw new OperationRejected('permission_denied', 'the collaboration session has ended, or you were removed from it', [], false);
      }
      const eventsFrom = (fromVersion: number) => services.store.readStream(streamId, { fromVersion });
      const cells = state.fields.cells as unknown as StoredCell[];
      const planned = await plan({ cells, version, eventsFrom, sessionStartedAt: session.diagram_version });
      const since = planned.base_vector < version ? await eventsFrom(planned.base_vector + 1) : [];
      const data = decideDiagramOperation({
        threat_model_id: target.threat_model_id, diagram_id: target.diagram_id, cells, version, since,
        operation_id: planned.operation_id, base_vector: planned.base_vector, requested: planned.cells,
        user_id: caller.user_id, user: userFromCaller(caller), now: new Date().toISOString(), session_id: target.session_id,
        ...(planned.history ? { history: planned.history } : {}),
      });
      last = { from: snapshotVersion, after: diagrams.decider.evolve(state, { type: DIAGRAM_CELLS_PATCHED, data }), version: version + 1 };
      return {
        appends: [{ stream_id: streamId, stream_type: diagrams.decider.streamType, expected: version, events: [{ type: DIAGRAM_CELLS_PATCHED, data }] }],
        conditions: [scope.condition, {
          stream_id: collaborationStreamId(target.diagram_id), unchanged_since: collaboration.version, types: ['CollaborationSessionEnded', 'CollaborationParticipantRemoved'],
        }],
        result: { sequence_number: version + 1, data, replayed: false },
      };
    },
    async replay(original: AppendResult) {
      const event = original.events.find((e) => e.stream_id === streamId && e.type === DIAGRAM_CELLS_PATCHED);
      if (!event) throw new OperationRejected('validation_failed', 'this operation id was used for something else');
      return { sequence_number: event.version, data: event.data as DiagramCellsPatchedData, replayed: true };
    },
  };
}

/** Which diagram, in which session, an operation is for. */
export interface DiagramTarget { threat_model_id: string; diagram_id: string; session_id: string }

/** Nothing to undo (or redo) for this user in this session: TMI answers with a history_operation. */
export class NothingInHistory extends Error {
  constructor(readonly kind: 'undo' | 'redo') {
    super(`nothing to ${kind}`);
    this.name = 'NothingInHistory';
  }
}

/**
 * Applies an operation once per user and operation id: a resend — after a reconnect, to another
 * instance — answers with the original sequence number and changes nothing; the same id with
 * other cells is refused.
 */
export async function applyDiagramOperation(
  services: Services, caller: Caller, target: DiagramTarget, request: OperationRequest, metadata: EventMetadata,
): Promise<AppliedOperation> {
  const command = diagramOperationCommand(services, caller, target, async () => request);
  const outcome = await executePlannedCommand(services, command, {
    commandId: operationCommandId(caller.user_id, request.operation_id),
    commandFingerprint: fingerprint(request.cells),
    ...operationOptions(metadata),
  });
  command.snapshotAfter(!outcome.replayed && outcome.position > 0);
  return { ...outcome.result, replayed: outcome.replayed };
}

/**
 * Undo (or redo) the caller's newest operation (or undo) of this session: a new operation that
 * inverts it, decided with the same conflict rules on the base the reverted event was made on,
 * so a cell someone else changed since is a conflict rather than silently overwritten.
 */
export async function applyHistoryStep(
  services: Services, caller: Caller, target: DiagramTarget, kind: 'undo' | 'redo', operationId: string, metadata: EventMetadata,
): Promise<AppliedOperation> {
  const command = diagramOperationCommand(services, caller, target, async (diagram) => {
    // Only the session's part of the stream: its operations come after the version it started at.
    const history = undoHistory(await diagram.eventsFrom(diagram.sessionStartedAt + 1), caller.user_id, target.session_id);
    const of = (kind === 'undo' ? history.undo : history.redo).at(-1);
    if (of === undefined) throw new NothingInHistory(kind);
    const reverted = (await diagram.eventsFrom(of)).find((e) => e.version === of)!;
    return { operation_id: operationId, base_vector: of, cells: inverseOf((reverted.data as DiagramCellsPatchedData).cells), history: { kind, of } };
  });
  const outcome = await executePlannedCommand(services, command, { commandId: null, commandFingerprint: null, ...operationOptions(metadata) });
  command.snapshotAfter(outcome.position > 0);
  return outcome.result;
}

const operationOptions = (metadata: EventMetadata) => ({
  metadata,
  projections: [diagrams.resource.plural],
  // The hub answers from the event; REST readers who need the cells ask for its position.
  waitForProjections: false,
  // A busy diagram's writers on several instances race for the next number; each race lost costs one decide.
  retries: OPERATION_RETRIES,
});
