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
import { CommandIdReusedError, CommandIdTakenError, StreamChangedError, VersionConflictError } from '../events/errors.js';
import type { EachEvent } from '../events/store.js';
import type { EventMetadata, StoredEvent } from '../events/types.js';
import { AUDIT_TRAIL_PROJECTION } from '../projections/audit-trail.js';
import type { Services } from '../services.js';
import { OperationRejected, decideDiagramOperation, type LaterEvent, type RequestedCell } from './operations/decide.js';
import { inverseOf, undoHistory } from './operations/history.js';
import { collaborationDecider } from './sessions/decide.js';
import { collaborationStreamId } from './sessions/events.js';
import { raceBackoffMs } from './backoff.js';

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

/** A racing writer on another instance, or a revocation, makes a batch decide again; each race lost costs one catch-up. */
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
  diagram: DiagramState; version: number;
  parent: ThreatModelState; parentVersion: number;
  collaboration: CollaborationState; collaborationVersion: number;
  /** The newest committed events of the diagram's stream, contiguous, the last at `version`. */
  recent: LaterEvent[];
  /** The writer's count of versionless invalidations when these versions were read: one since means they may be behind. */
  invalidations: number;
}

/** The streams a writer holds, as `observe` names them. */
export type HeldStream = 'diagram' | 'threat_model' | 'session';

/** What a writer read from the store to bring its state up to date, for `/metrics` and for tests that bound it. */
export interface WriterStats {
  /** Full loads: the three streams and the window read from scratch (a writer's first batch, or a diagram too far ahead). */
  loads: number;
  /** Catch-ups: the streams' versions read, then only what moved (the diagram's newer events, an aggregate whose version moved). */
  catchUps: number;
  /** Diagram events read and folded into the held state (a load's after its snapshot, and a catch-up's). */
  eventsFolded: number;
  /** The threat model's and the session's aggregates read again by catch-ups, because their versions moved. */
  threatModelReloads: number;
  sessionReloads: number;
  /** Appends refused because another writer, the access or the session got there first (each then catches up). */
  racesLost: number;
  /** Batches decided again without their append: the state they were decided on was invalidated meanwhile. */
  redecided: number;
  /** Decisions that read the diagram's events from the store rather than from the window held (none is expected: every decision reaches back at most the window). */
  streamReads: number;
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
  readonly stats: WriterStats = { loads: 0, catchUps: 0, eventsFolded: 0, threatModelReloads: 0, sessionReloads: 0, racesLost: 0, redecided: 0, streamReads: 0 };
  private readonly streamId: string;
  private readonly parentStreamId: string;
  private readonly sessionStreamId: string;
  private held: Held | null = null;
  /** The newest version heard of for each stream held (rooms' deliveries, access checks, lost races): beyond the held one, the state is behind. */
  private readonly heard: Record<HeldStream, number> = { diagram: 0, threat_model: 0, session: 0 };
  /** Invalidations that name no version (a session ended or a participant removed, announced on the feed). */
  private invalidations = 0;
  /** The newest version of the diagram a snapshot is known at (read at load, or saved): the next is due `every` events after it. */
  private snapshotAt = 0;
  private snapshotting = false;
  private readonly queue: Job[] = [];
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly window: number;
  private readonly onBatch: (operations: number) => void;

  constructor(
    private readonly services: Services, private readonly threatModelId: string, private readonly diagramId: string,
    options: { window?: number; onBatch?: (operations: number) => void } = {},
  ) {
    this.streamId = childStreamId('diagram', diagramId);
    this.parentStreamId = threatModelStreamId(threatModelId);
    this.sessionStreamId = collaborationStreamId(diagramId);
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

  /**
   * A version of a stream the writer holds that this instance heard of (any event: a cell
   * operation, a diagram's metadata, the session's or the access's change): beyond the held one,
   * the next batch catches up first, and a batch decided meanwhile is decided again instead of
   * attempting an append its version check or conditions would refuse.
   */
  observe(stream: HeldStream, version: number): void {
    if (version > this.heard[stream]) this.heard[stream] = version;
  }

  /** Something changed that names no version (the session ended, a participant was removed): the held state is checked before it is used again. */
  invalidate(): void {
    this.invalidations++;
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
    // The state this run read the streams' versions for (a refresh, or a refusal's confirmation): a
    // refusal decided on it needs no confirming again, or a busy stream would keep it re-confirming forever.
    let checked: Held | null = null;
    // Races lost by this batch, which alone make the wait before the next attempt grow (a re-decision or a confirmation is no race).
    let races = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        if (!this.held || this.behind(this.held)) checked = this.held = await this.refresh(this.held);
        const held = this.held;
        const confirmed = held === checked;
        const { outcomes, working } = await this.decideAll(held, batch, lookUpAll);
        if (attempt < BATCH_RETRIES && this.behind(held)) {
          // Invalidated while it was decided (a newer event heard during a lookup): decided again, not appended to fail.
          this.stats.redecided++;
          continue;
        }
        if (!confirmed && attempt < BATCH_RETRIES && [...outcomes.values()].some((o) => 'error' in o && decidedOnHeld(o.error))) {
          checked = this.held = await this.refresh(held);
          if (checked !== held) continue;
        }
        if (working.accepted.length > 0) await this.commit(held, working);
        try { this.onBatch(working.accepted.length); } catch { /* a metric never fails a batch */ }
        for (const job of batch) settle(job, outcomes);
        return;
      } catch (err) {
        // Someone else appended, the access or the session changed, or one of the ids was used before: catch up and decide again.
        if (err instanceof VersionConflictError || err instanceof CommandIdTakenError) {
          this.stats.racesLost++;
          this.noteRace(err);
          if (err instanceof CommandIdTakenError) lookUpAll = true;
          if (attempt < BATCH_RETRIES) {
            await sleep(raceBackoffMs(races++));
            continue;
          }
        }
        this.held = null;
        for (const job of batch) job.reject(err);
        return;
      }
    }
  }

  /** Whether a stream held moved past the held version (as far as this instance heard), or something versionless changed since it was read. */
  private behind(held: Held): boolean {
    return this.heard.diagram > held.version || this.heard.threat_model > held.parentVersion || this.heard.session > held.collaborationVersion
      || this.invalidations !== held.invalidations;
  }

  /** A lost race tells which stream moved, and to where: the next attempt catches up on it. */
  private noteRace(err: VersionConflictError | CommandIdTakenError): void {
    if (err instanceof StreamChangedError) {
      this.observe(err.stream_id === this.parentStreamId ? 'threat_model' : 'session', err.actual);
    } else if (err instanceof VersionConflictError) {
      this.observe('diagram', err.actual);
    } else {
      // Another append recorded one of the ids, perhaps on this diagram: the versions are read again.
      this.invalidate();
    }
  }

  /**
   * The held state brought up to date, or the same object when none of the three streams moved:
   * their versions are read, then only what moved — the diagram's newer events folded into the
   * held state and its window, the threat model's or the session's aggregate read again. Without
   * a held state, or with the diagram further ahead than the window, everything is loaded.
   */
  private async refresh(held: Held | null): Promise<Held> {
    const invalidations = this.invalidations;
    if (!held) return this.load(invalidations);
    const { store } = this.services;
    const before = { ...this.heard };
    const [diagramVersion, parentVersion, sessionVersion] = await store.streamVersions([this.streamId, this.parentStreamId, this.sessionStreamId]);
    this.settleHeard(before, { diagram: diagramVersion!, threat_model: parentVersion!, session: sessionVersion! });
    if (diagramVersion! < held.version || diagramVersion! - held.version > this.window) return this.load(invalidations);
    this.stats.catchUps++;
    const moved = diagramVersion !== held.version || parentVersion !== held.parentVersion || sessionVersion !== held.collaborationVersion;
    if (!moved) {
      held.invalidations = invalidations;
      return held;
    }
    const [newer, parent, collaboration] = await Promise.all([
      diagramVersion === held.version ? [] : store.readStream(this.streamId, { fromVersion: held.version + 1 }),
      parentVersion === held.parentVersion ? null : loadAggregate(this.services, threatModelDecider, this.parentStreamId),
      sessionVersion === held.collaborationVersion ? null : loadAggregate(this.services, collaborationDecider, this.sessionStreamId),
    ]);
    if (parent) this.stats.threatModelReloads++;
    if (collaboration) this.stats.sessionReloads++;
    this.stats.eventsFolded += newer.length;
    const events = newer.map((e) => ({ type: e.type, version: e.version, data: e.data }));
    return {
      diagram: events.reduce((state, e) => diagrams.decider.evolve(state, { type: e.type, data: e.data } as Parameters<typeof diagrams.decider.evolve>[1]), held.diagram),
      version: events.at(-1)?.version ?? held.version,
      parent: parent?.state ?? held.parent, parentVersion: parent?.version ?? held.parentVersion,
      collaboration: collaboration?.state ?? held.collaboration, collaborationVersion: collaboration?.version ?? held.collaborationVersion,
      recent: [...held.recent, ...events].slice(-this.window),
      invalidations,
    };
  }

  /**
   * The versions just read are the truth: a version heard of before the read and beyond it came
   * from a source that overstated it (a read model's), and would keep the writer catching up
   * before every batch; one heard during the read may be newer than what it saw, and stays.
   */
  private settleHeard(before: Record<HeldStream, number>, read: Record<HeldStream, number>): void {
    for (const stream of ['diagram', 'threat_model', 'session'] as const) {
      if (this.heard[stream] === before[stream] && before[stream] > read[stream]) this.heard[stream] = read[stream];
      this.observe(stream, read[stream]);
    }
  }

  private async load(invalidations: number): Promise<Held> {
    const before = { ...this.heard };
    const [diagram, parent, collaboration] = await Promise.all([
      loadAggregate(this.services, diagrams.decider, this.streamId),
      loadAggregate(this.services, threatModelDecider, this.parentStreamId),
      loadAggregate(this.services, collaborationDecider, this.sessionStreamId),
    ]);
    const recent = diagram.version === 0 ? [] : await this.services.store.readStream(this.streamId, { fromVersion: Math.max(1, diagram.version - this.window + 1), toVersion: diagram.version });
    this.stats.loads++;
    this.stats.eventsFolded += diagram.eventsRead;
    this.snapshotAt = Math.max(this.snapshotAt, diagram.snapshotVersion);
    this.settleHeard(before, { diagram: diagram.version, threat_model: parent.version, session: collaboration.version });
    return {
      diagram: diagram.state, version: diagram.version,
      parent: parent.state, parentVersion: parent.version,
      collaboration: collaboration.state, collaborationVersion: collaboration.version,
      recent: recent.map((e) => ({ type: e.type, version: e.version, data: e.data })),
      invalidations,
    };
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
    // Only the session's part of the stream (its operations come after the version it started at), and of that only the
    // window: a step older than it cannot be decided without scanning the stream, so it is out of reach, as if there were none
    // (refusing it as a conflict would refuse every later undo too, since an undo always takes the newest step). The stacks
    // read from the window are the whole session's cut to it (each is in version order), so its newest step is the same.
    const events = await this.eventsFrom(held, working, Math.max(sessionStartedAt + 1, working.version - this.window + 1));
    const history = undoHistory(events, job.caller.user_id, job.target.session_id);
    const of = (job.kind === 'undo' ? history.undo : history.redo).at(-1);
    if (of === undefined) throw new NothingInHistory(job.kind);
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
        : await this.readCommitted(fromVersion, held.version);
    const own = working.accepted.filter((a) => a.version >= fromVersion).map((a) => ({ type: DIAGRAM_CELLS_PATCHED, version: a.version, data: a.data }));
    return [...committed, ...own];
  }

  private readCommitted(fromVersion: number, toVersion: number): Promise<StoredEvent[]> {
    this.stats.streamReads++;
    return this.services.store.readStream(this.streamId, { fromVersion, toVersion });
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
        { stream_id: this.parentStreamId, unchanged_since: held.parentVersion, types: ACCESS_CHANGING_EVENT_TYPES },
        { stream_id: this.sessionStreamId, unchanged_since: held.collaborationVersion, types: ['CollaborationSessionEnded', 'CollaborationParticipantRemoved'] },
      ] },
    );
    // Committed: nothing after this may fail the batch (its operations have their numbers).
    this.held = {
      ...held, diagram: working.state, version: working.version,
      recent: [...held.recent, ...stored.map((e) => ({ type: e.type, version: e.version, data: e.data }))].slice(-this.window),
    };
    try {
      this.services.wakeups.wake([diagrams.resource.plural, AUDIT_TRAIL_PROJECTION]);
      this.snapshot(working.state, working.version);
    } catch (err) {
      this.services.log.warn({ err, stream_id: this.streamId }, 'after a diagram batch: wake-up or snapshot failed');
    }
  }

  /**
   * The state just committed as the stream's snapshot, when one is due: in the background, one at
   * a time, and counted as taken only once it was saved — a failed save is tried again at the next
   * batch instead of `every` events later.
   */
  private snapshot(state: DiagramState, version: number): void {
    if (this.snapshotting) return;
    const saving = snapshotAfterAppend(this.services.store, diagrams.decider, this.streamId, this.snapshotAt, state, version);
    if (!saving) return;
    this.snapshotting = true;
    void saving.then((saved) => {
      this.snapshotting = false;
      if (saved) this.snapshotAt = Math.max(this.snapshotAt, version);
    });
  }
}

/** Whether a refusal may come from what the writer holds: an id reused with other cells does not (the batch or the store says so), and needs no confirming. */
const decidedOnHeld = (err: unknown) => !(err instanceof CommandIdReusedError);

const sleep = (ms: number) => new Promise<void>((resolve) => { setTimeout(resolve, ms); });

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
