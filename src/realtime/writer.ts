import { createHash } from 'node:crypto';
import type { Caller } from '../commands/caller.js';
import { childStreamId, isLiveChildOf } from '../commands/child-resources/index.js';
import { DIAGRAM_CELLS_PATCHED, diagrams, type DiagramCellsPatchedData, type StoredCell } from '../commands/diagrams/index.js';
import { forbidden } from '../commands/errors.js';
import { requireThreatModelRole, roleAtLeast, userFromCaller } from '../commands/threat-models/authorization.js';
import { ACCESS_CHANGING_EVENT_TYPES, threatModelStreamId } from '../commands/threat-models/events.js';
import { threatModelDecider } from '../application/threat-models.js';
import { loadAggregate } from '../application/execute-command.js';
import { snapshotAfterAppend } from '../application/snapshots.js';
import { CommandIdReusedError, CommandIdTakenError, VersionConflictError } from '../events/errors.js';
import type { EachEvent } from '../events/store.js';
import type { EventMetadata, StoredEvent } from '../events/types.js';
import type { Services } from '../services.js';
import { OperationRejected, decideDiagramOperation, type LaterEvent, type RequestedCell } from './operations/decide.js';
import { inverseOf, undoHistory } from './operations/history.js';
import { collaborationDecider } from './sessions/decide.js';
import { collaborationStreamId } from './sessions/events.js';

/** Which diagram, in which session, an operation is for. */
export interface DiagramTarget { threat_model_id: string; diagram_id: string; session_id: string }

export interface OperationRequest { operation_id: string; base_vector: number; cells: RequestedCell[] }

/** An applied operation: its sequence number (the diagram stream's version it made) and what it changed. */
export interface AppliedOperation { sequence_number: number; data: DiagramCellsPatchedData; replayed: boolean }

/** Nothing to undo (or redo) for this user in this session: TMI answers with a history_operation. */
export class NothingInHistory extends Error {
  constructor(readonly kind: 'undo' | 'redo') {
    super(`nothing to ${kind}`);
    this.name = 'NothingInHistory';
  }
}

/** The writer is shutting down and takes no new operation (the client resends it after reconnecting). */
export class WriterClosedError extends Error {
  constructor() {
    super('the server is shutting down');
    this.name = 'WriterClosedError';
  }
}

/** The idempotency key of an operation: one user's operation id, never another user's. */
export const operationCommandId = (userId: string, operationId: string) => `diagram-operation:${userId}:${operationId}`;

const fingerprint = (cells: readonly RequestedCell[]) => createHash('sha256').update(JSON.stringify(cells)).digest('base64url');

/** A racing writer on another instance, or a revocation, makes a batch decide again; each race lost costs one load. */
const BATCH_RETRIES = 50;
/** Most operations one group commit carries: a bigger queue commits in several. */
const MAX_BATCH = 64;
/**
 * Committed events a writer keeps in memory (at least; `realtime.replay_max_events` when more):
 * an operation built on an older base is refused with a resync instead of making the diagram's
 * single writer read and scan a long stretch of its stream while every other operation waits.
 */
export const MIN_DECISION_WINDOW = 256;

type JobBody =
  | { kind: 'operation'; request: OperationRequest; commandId: string; fingerprint: string }
  | { kind: 'undo' | 'redo'; operation_id: string };

type Job = JobBody & {
  caller: Caller; target: DiagramTarget; metadata: EventMetadata;
  resolve(applied: AppliedOperation): void; reject(err: unknown): void;
};

type DiagramState = ReturnType<typeof diagrams.decider.initialState>;
type ThreatModelState = ReturnType<typeof threatModelDecider.initialState>;
type CollaborationState = ReturnType<typeof collaborationDecider.initialState>;

/** What the writer holds between batches: the three streams an operation is decided on, each at the version it was read at. */
interface Held {
  diagram: DiagramState; version: number; snapshotVersion: number;
  parent: ThreatModelState; parentVersion: number;
  collaboration: CollaborationState; collaborationVersion: number;
  /** The newest committed events of the diagram's stream, contiguous, the last at `version`. */
  recent: LaterEvent[];
}

/** A batch being decided: the diagram after the operations accepted so far, and their events. */
interface Working { state: DiagramState; version: number; accepted: { job: Job; data: DiagramCellsPatchedData; version: number }[] }

/** The cells an operation asks for and what it is built on (a client's request, or an undo's inverse). */
type Planned = OperationRequest & { history?: DiagramCellsPatchedData['history'] };

type Outcome = { applied: AppliedOperation } | { error: unknown } | { sameAs: Job };

/**
 * One diagram's writer on this instance: it holds the diagram's state and version, the parent's
 * access and the session in memory between operations, and commits the operations queued while
 * the previous commit ran as one append (a group commit: one statement, one fsync, each event
 * with its own sequence number, actor and idempotency key). Decisions are sequential, so an
 * operation is decided against every operation before it, the uncommitted ones of its own batch
 * included.
 *
 * It is not the only writer: another instance's writer may append to the same diagram. The append
 * expects the version the batch was decided on and carries the parent's and the session's
 * conditions, so a batch decided on a stale state fails whole and is decided again on a fresh one
 * (optimistic concurrency; docs/architecture.md). A rejection from a held state is confirmed
 * against the streams' versions first: nobody is refused on what only this instance believed.
 */
export class DiagramWriter {
  private readonly streamId: string;
  private held: Held | null = null;
  private readonly queue: Job[] = [];
  private running: Promise<void> | null = null;
  /** Counts what `observe` dropped, so a batch decided meanwhile does not put back what it loaded. */
  private epoch = 0;
  private closed = false;
  private readonly window: number;
  private readonly onBatch: (operations: number) => void;

  constructor(
    private readonly services: Services, private readonly threatModelId: string, private readonly diagramId: string,
    options: { window?: number; onBatch?: (operations: number) => void } = {},
  ) {
    this.streamId = childStreamId('diagram', diagramId);
    this.window = Math.max(MIN_DECISION_WINDOW, options.window ?? 0);
    this.onBatch = options.onBatch ?? (() => {});
  }

  /** Applies an operation once per user and operation id: a resend answers with the original sequence number; the same id with other cells is refused. */
  operate(caller: Caller, target: DiagramTarget, request: OperationRequest, metadata: EventMetadata): Promise<AppliedOperation> {
    const commandId = operationCommandId(caller.user_id, request.operation_id);
    return this.submit({ kind: 'operation', request, commandId, fingerprint: fingerprint(request.cells) }, caller, target, metadata);
  }

  /**
   * Undo (or redo) the caller's newest operation (or undo) of this session: a new operation that
   * inverts it, decided with the same conflict rules on the base the reverted event was made on,
   * so a cell someone else changed since is a conflict rather than silently overwritten.
   */
  step(caller: Caller, target: DiagramTarget, kind: 'undo' | 'redo', operationId: string, metadata: EventMetadata): Promise<AppliedOperation> {
    return this.submit({ kind, operation_id: operationId }, caller, target, metadata);
  }

  /** An event of the diagram's stream this instance heard of: a version beyond the held one means someone else wrote. */
  observe(version: number): void {
    if (this.held && version > this.held.version) {
      this.held = null;
      this.epoch++;
    }
  }

  /** Resolves when every operation submitted so far has committed or been answered. */
  async drained(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Shutting down: what is queued still commits, nothing new is taken (a busy diagram's queue would otherwise never drain). */
  close(): Promise<void> {
    this.closed = true;
    return this.drained();
  }

  private submit(body: JobBody, caller: Caller, target: DiagramTarget, metadata: EventMetadata): Promise<AppliedOperation> {
    if (this.closed) return Promise.reject(new WriterClosedError());
    return new Promise<AppliedOperation>((resolve, reject) => {
      this.queue.push({ ...body, caller, target, metadata, resolve, reject });
      // What arrives before the writer gets its turn (this tick's messages, or those queued behind a commit) goes into one batch.
      this.running ??= new Promise<void>((done) => {
        setImmediate(() => void this.work(done));
      });
    });
  }

  /** Runs batches until the queue is empty, and is no longer running in that same step: a submit never finds a writer about to stop. */
  private async work(done: () => void): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        this.running = null;
        return done();
      }
      await this.run(this.takeBatch());
    }
  }

  /** The next operations in order; an undo or redo goes alone, once what came before it committed (it reads its history from the store). */
  private takeBatch(): Job[] {
    if (this.queue[0]!.kind !== 'operation') return [this.queue.shift()!];
    let n = 1;
    while (n < this.queue.length && n < MAX_BATCH && this.queue[n]!.kind === 'operation') n++;
    return this.queue.splice(0, n);
  }

  private async run(batch: Job[]): Promise<void> {
    // Resends are rare: their originals are looked up only for a refused operation, or after an append found an id taken.
    let lookUpAll = false;
    for (let attempt = 0; ; attempt++) {
      try {
        const cached = this.held !== null;
        const epoch = this.epoch;
        const held = this.held ?? await this.load();
        const { outcomes, working } = await this.decideAll(held, batch, lookUpAll);
        if (cached && [...outcomes.values()].some((o) => 'error' in o) && await this.changedSince(held)) {
          this.held = null;
          continue;
        }
        if (working.accepted.length > 0) await this.commit(held, working);
        else if (this.epoch === epoch) this.held = held;
        try { this.onBatch(working.accepted.length); } catch { /* a metric never fails a batch */ }
        for (const job of batch) settle(job, outcomes);
        return;
      } catch (err) {
        this.held = null;
        // Someone else appended, the access or the session changed, or one of the ids was used before: decide again.
        if (err instanceof CommandIdTakenError) lookUpAll = true;
        if ((err instanceof VersionConflictError || err instanceof CommandIdTakenError) && attempt < BATCH_RETRIES) continue;
        for (const job of batch) job.reject(err);
        return;
      }
    }
  }

  private async load(): Promise<Held> {
    const [diagram, parent, collaboration] = await Promise.all([
      loadAggregate(this.services, diagrams.decider, this.streamId),
      loadAggregate(this.services, threatModelDecider, threatModelStreamId(this.threatModelId)),
      loadAggregate(this.services, collaborationDecider, collaborationStreamId(this.diagramId)),
    ]);
    const recent = diagram.version === 0 ? [] : await this.services.store.readStream(this.streamId, { fromVersion: Math.max(1, diagram.version - this.window + 1), toVersion: diagram.version });
    return {
      diagram: diagram.state, version: diagram.version, snapshotVersion: diagram.snapshotVersion,
      parent: parent.state, parentVersion: parent.version,
      collaboration: collaboration.state, collaborationVersion: collaboration.version,
      recent: recent.map((e) => ({ type: e.type, version: e.version, data: e.data })),
    };
  }

  /** Whether any of the three streams moved past what is held: then a refusal might rest on a stale belief. */
  private async changedSince(held: Held): Promise<boolean> {
    const versions = await this.services.store.streamVersions([this.streamId, threatModelStreamId(this.threatModelId), collaborationStreamId(this.diagramId)]);
    return versions[0] !== held.version || versions[1] !== held.parentVersion || versions[2] !== held.collaborationVersion;
  }

  /**
   * Each job of the batch in order, against the diagram after the ones accepted before it. An
   * operation whose id was used before is answered with what its original made: found up front
   * when `lookUpAll`, otherwise only for an operation refused here (a resend of an applied add
   * finds its cell there already) — one accepted again fails the append on its id, and the batch
   * is decided again with every id looked up.
   */
  private async decideAll(held: Held, batch: Job[], lookUpAll: boolean): Promise<{ outcomes: Map<Job, Outcome>; working: Working }> {
    const keyed = batch.filter((j): j is Job & { kind: 'operation' } => j.kind === 'operation');
    const previous = lookUpAll ? await this.services.store.commandResults([...new Set(keyed.map((j) => j.commandId))]) : new Map();
    const working: Working = { state: held.diagram, version: held.version, accepted: [] };
    const outcomes = new Map<Job, Outcome>();
    const firstWith = new Map<string, Job & { kind: 'operation' }>();
    for (const job of batch) {
      try {
        if (job.kind === 'operation') {
          const earlier = previous.get(job.commandId);
          if (earlier) { outcomes.set(job, this.replayOf(job, earlier)); continue; }
          // The same operation twice in one batch (a resend right behind its original): it is applied once.
          const twin = firstWith.get(job.commandId);
          if (twin) {
            outcomes.set(job, twin.fingerprint === job.fingerprint ? { sameAs: twin } : { error: new CommandIdReusedError(job.commandId) });
            continue;
          }
          firstWith.set(job.commandId, job);
        }
        const data = await this.decideOne(held, working, job);
        const version = working.version + 1;
        working.state = diagrams.decider.evolve(working.state, { type: DIAGRAM_CELLS_PATCHED, data });
        working.version = version;
        working.accepted.push({ job, data, version });
        outcomes.set(job, { applied: { sequence_number: version, data, replayed: false } });
      } catch (err) {
        outcomes.set(job, { error: err });
      }
    }
    if (!lookUpAll) {
      const refused = keyed.filter((j) => { const o = outcomes.get(j); return o !== undefined && 'error' in o && !(o.error instanceof CommandIdReusedError); });
      const found = await this.services.store.commandResults([...new Set(refused.map((j) => j.commandId))]);
      for (const job of refused) {
        const earlier = found.get(job.commandId);
        if (earlier) outcomes.set(job, this.replayOf(job, earlier));
      }
    }
    return { outcomes, working };
  }

  /** A resend's answer: what its original made, or why the id cannot be answered that way. */
  private replayOf(job: Job & { kind: 'operation' }, earlier: { events: StoredEvent[]; fingerprint: string | null }): Outcome {
    if (earlier.fingerprint !== null && earlier.fingerprint !== job.fingerprint) return { error: new CommandIdReusedError(job.commandId) };
    const event = earlier.events.find((e) => e.stream_id === this.streamId && e.type === DIAGRAM_CELLS_PATCHED);
    if (!event) return { error: new OperationRejected('validation_failed', 'this operation id was used for something else') };
    return { applied: { sequence_number: event.version, data: event.data as DiagramCellsPatchedData, replayed: true } };
  }

  /**
   * One operation in the diagram's scope: the caller's role on its threat model (a writer at
   * least), the diagram live under it, the caller still in the session; then TMI's operation
   * against the cells now and every event since its base.
   */
  private async decideOne(held: Held, working: Working, job: Job): Promise<DiagramCellsPatchedData> {
    const { caller, target } = job;
    const parent = held.parent.exists ? held.parent : null;
    const { role } = requireThreatModelRole(parent, caller, 'reader');
    if (!roleAtLeast(role, 'writer')) throw forbidden('editing a diagram needs the writer role', { required_role: 'writer', user_role: role });
    if (target.threat_model_id !== this.threatModelId || !isLiveChildOf(working.state, target.threat_model_id)) {
      throw new OperationRejected('diagram_not_found', 'the diagram does not exist', [], true);
    }
    const session = held.collaboration.session;
    // A socket outliving its session (ended, or its user removed, on another instance) edits nothing.
    if (!session || session.session_id !== target.session_id || session.removed.includes(caller.user_id)) {
      throw new OperationRejected('permission_denied', 'the collaboration session has ended, or you were removed from it', [], false);
    }
    const planned: Planned = job.kind === 'operation' ? job.request : await this.historyStep(held, working, job, session.diagram_version);
    if (working.version - planned.base_vector > this.window) {
      throw new OperationRejected('conflict_detected', `base_vector ${planned.base_vector} is more than ${this.window} operations behind the diagram (${working.version}): resync and send it again`,
        planned.cells.map((c) => c.id), true);
    }
    const since = planned.base_vector < working.version ? await this.eventsFrom(held, working, planned.base_vector + 1) : [];
    return decideDiagramOperation({
      threat_model_id: target.threat_model_id, diagram_id: target.diagram_id, cells: working.state.exists ? working.state.fields.cells as unknown as StoredCell[] : [],
      version: working.version, since,
      operation_id: planned.operation_id, base_vector: planned.base_vector, requested: planned.cells,
      user_id: caller.user_id, user: userFromCaller(caller), now: new Date().toISOString(), session_id: target.session_id,
      ...(planned.history ? { history: planned.history } : {}),
    });
  }

  /** An undo's or redo's operation: the inverse of the step it reverts, on the base that step was made on. */
  private async historyStep(held: Held, working: Working, job: Job & { kind: 'undo' | 'redo' }, sessionStartedAt: number): Promise<Planned> {
    // Only the session's part of the stream: its operations come after the version it started at.
    const events = await this.eventsFrom(held, working, sessionStartedAt + 1);
    const history = undoHistory(events, job.caller.user_id, job.target.session_id);
    const of = (job.kind === 'undo' ? history.undo : history.redo).at(-1);
    // A step older than the window cannot be decided without scanning the stream: it is out of reach, as if there were none
    // (refusing it as a conflict would refuse every later undo too, since an undo always takes the newest step).
    if (of === undefined || working.version - of > this.window) throw new NothingInHistory(job.kind);
    const reverted = events.find((e) => e.version === of)!;
    return {
      operation_id: job.operation_id, base_vector: of, cells: inverseOf((reverted.data as DiagramCellsPatchedData).cells),
      history: { kind: job.kind, of },
    };
  }

  /** The diagram stream's events from a version on: the committed ones (from memory when held), then the batch's own. */
  private async eventsFrom(held: Held, working: Working, fromVersion: number): Promise<LaterEvent[]> {
    const heldFrom = held.version + 1 - held.recent.length;
    const committed = fromVersion > held.version ? []
      : fromVersion >= heldFrom ? held.recent.slice(fromVersion - heldFrom)
        : await this.services.store.readStream(this.streamId, { fromVersion, toVersion: held.version });
    const own = working.accepted.filter((a) => a.version >= fromVersion).map((a) => ({ type: DIAGRAM_CELLS_PATCHED, version: a.version, data: a.data }));
    return [...committed, ...own];
  }

  /** The batch as one append at the version it was decided on, the parent's access and the session unchanged; then it is what the writer holds. */
  private async commit(held: Held, working: Working): Promise<void> {
    const events: EachEvent[] = working.accepted.map(({ job, data }) => ({
      type: DIAGRAM_CELLS_PATCHED, data, metadata: job.metadata,
      ...(job.kind === 'operation' ? { command_id: job.commandId, command_fingerprint: job.fingerprint } : {}),
    }));
    const stored = await this.services.store.appendEach(
      { stream_id: this.streamId, stream_type: diagrams.decider.streamType, expected: held.version, events },
      { conditions: [
        { stream_id: threatModelStreamId(this.threatModelId), unchanged_since: held.parentVersion, types: ACCESS_CHANGING_EVENT_TYPES },
        { stream_id: collaborationStreamId(this.diagramId), unchanged_since: held.collaborationVersion, types: ['CollaborationSessionEnded', 'CollaborationParticipantRemoved'] },
      ] },
    );
    // Committed: nothing after this may fail the batch (its operations have their numbers).
    let snapshotted = false;
    try {
      this.services.wakeups.wake([diagrams.resource.plural]);
      snapshotted = snapshotAfterAppend(this.services.store, diagrams.decider, this.streamId, held.snapshotVersion, working.state, working.version);
    } catch (err) {
      this.services.log.warn({ err, stream_id: this.streamId }, 'after a diagram batch: wake-up or snapshot failed');
    }
    this.held = {
      ...held, diagram: working.state, version: working.version, snapshotVersion: snapshotted ? working.version : held.snapshotVersion,
      recent: [...held.recent, ...stored.map((e) => ({ type: e.type, version: e.version, data: e.data }))].slice(-this.window),
    };
  }
}

function settle(job: Job, outcomes: Map<Job, Outcome>): void {
  const outcome = outcomes.get(job)!;
  if ('sameAs' in outcome) {
    const first = outcomes.get(outcome.sameAs)!;
    if ('applied' in first) job.resolve({ ...first.applied, replayed: true });
    else if ('error' in first) job.reject(first.error);
    return;
  }
  if ('applied' in outcome) job.resolve(outcome.applied);
  else job.reject(outcome.error);
}
