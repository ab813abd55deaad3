import type { Caller } from '../commands/caller.js';
import {
  childStreamId, type ChildAggregate, type ChildCommand, type ChildState,
} from '../commands/child-resources/index.js';
import { conflict } from '../commands/errors.js';
import { requireThreatModelRole } from '../commands/threat-models/authorization.js';
import { ACCESS_CHANGING_EVENT_TYPES, threatModelStreamId } from '../commands/threat-models/events.js';
import type { Role } from '../commands/threat-models/values.js';
import { VersionConflictError } from '../events/errors.js';
import type { AppendResult, NewEvent, StreamAppend, StreamCondition } from '../events/types.js';
import type { Services } from '../services.js';
import { drawChildAliases } from './child-aliases.js';
import { CHILD_WRITE_GUARDS } from './child-write-guards.js';
import { foldEvents, loadAggregate } from './execute-command.js';
import type { PlannedCommand } from './multi-stream-command.js';
import { threatModelDecider } from './threat-models.js';

/**
 * The scope every child command is decided in: the parent threat model read from its stream,
 * the caller's role on it (unknown or deleted → 404, out of reach → 403, as for the parent
 * itself), and the condition the append carries — the parent's access has not changed since —
 * so a write decided just before a revocation cannot land after it (docs/architecture.md).
 */
/** The caller's role on the parent threat model, its name as the events have it, and the condition the append relies on. */
export interface ParentScope { role: Role; name: string; condition: StreamCondition }

export async function parentScope(services: Services, caller: Caller, threatModelId: string, options: { restoringChild?: boolean } = {}): Promise<ParentScope> {
  const parent = await loadAggregate(services, threatModelDecider, threatModelStreamId(threatModelId));
  const state = parent.state.exists ? parent.state : null;
  const restoring = options.restoringChild === true;
  // TMI: a child is restored under a live parent only; one who may restore it is told why not (409).
  if (restoring && state !== null && state.deleted_at !== null) {
    requireThreatModelRole(state, caller, 'owner', { restoring: true });
    throw conflict('the threat model is deleted: restore it before its children');
  }
  // Restoring, an administrator acts as the owner (TMI: "owner role or administrators").
  const { role, threatModel } = requireThreatModelRole(state, caller, 'reader', { restoring });
  return { role, name: threatModel.name, condition: { stream_id: threatModelStreamId(threatModelId), unchanged_since: parent.version, types: ACCESS_CHANGING_EVENT_TYPES } };
}

type Base = 'role' | 'threat_model_id' | 'now';
type Distribute<C> = C extends unknown ? Omit<C, Base> : never;
/** A child command as a route states it; the scope adds the caller's role, the parent and the time. */
export type ChildCommandBody = Distribute<ChildCommand>;

/** One child a command acts on: a create (`id` drawn fresh) or a change of an existing one. */
export interface ChildOperation {
  id: string;
  /** The id was drawn fresh: the first try skips reading its stream. */
  create: boolean;
  /** If-Match (or a bulk item's version): the child's stream must be at it. */
  expectedVersion: number | null;
  /** `alias` is filled in for creates; a function decides the command from the child's state (a bulk upsert). */
  command: ChildCommandBody | ((state: ChildState<object>) => ChildCommandBody);
}

export interface ChildResult<F> { state: Extract<ChildState<F>, { exists: true }>; version: number }

/**
 * A command on one or more children of one threat model, as one atomic append: every child's
 * events at the version it was decided against, plus the parent's access condition. A bulk of
 * twenty is the same command with twenty operations.
 */
export function childCommand<F extends object>(
  services: Services, aggregate: ChildAggregate<F>, caller: Caller, threatModelId: string, operations: readonly ChildOperation[],
): PlannedCommand<ChildResult<F>[]> {
  const { decider, resource } = aggregate;
  const now = new Date().toISOString();
  // Aliases drawn for an operation stay its own across retries: a retry must not burn a new one.
  const aliases = new Map<number, number>();
  const restores = operations.some((op) => typeof op.command !== 'function' && op.command.type === 'Restore');

  return {
    async decide(attempt) {
      const scope = await parentScope(services, caller, threatModelId, { restoringChild: restores });
      const loaded = await Promise.all(operations.map(async (op) => {
        const streamId = childStreamId(resource.kind, op.id);
        const { state, version } = op.create && attempt === 0
          ? { state: decider.initialState(), version: 0 }
          : await loadAggregate(services, decider, streamId);
        const body = typeof op.command === 'function' ? op.command(state as ChildState<object>) : op.command;
        return { op, streamId, state, version, body };
      }));
      const needing = loaded.map((l, i) => (l.body.type === 'Create' && !aliases.has(i) ? i : -1)).filter((i) => i >= 0);
      if (needing.length > 0) {
        const first = await drawChildAliases(services.database.pool, threatModelId, resource.kind, needing.length);
        needing.forEach((i, n) => aliases.set(i, first + n));
      }
      const decided = loaded.map(({ op, streamId, state, version, body }, i) => {
        const command = { ...body, ...(body.type === 'Create' ? { alias: aliases.get(i)! } : {}), role: scope.role, threat_model_id: threatModelId, now } as ChildCommand;
        // Decided first: a caller who may not see the child learns nothing from a version mismatch.
        const events = decider.decide(command, state);
        if (op.expectedVersion !== null && op.expectedVersion !== version) throw new VersionConflictError(streamId, op.expectedVersion, version);
        return { streamId, version, events, after: events.reduce(decider.evolve, state) };
      });
      // The kind's own rules last: whoever the decider refused (a reader, a child of another parent) learns nothing from them.
      const guard = CHILD_WRITE_GUARDS[resource.kind];
      const guarded = guard ? await guard(services, operations.filter((op) => !op.create).map((op) => op.id)) : [];
      const appends: StreamAppend[] = decided.map((d) => ({
        stream_id: d.streamId, stream_type: resource.kind, expected: d.version === 0 ? 'no_stream' : d.version, events: d.events as NewEvent[],
      }));
      return {
        appends,
        conditions: [scope.condition, ...guarded],
        result: decided.map((d) => ({ state: existing(d.after), version: d.version + d.events.length })),
      };
    },
    async replay(original: AppendResult) {
      // Each operation's child as it was right after the original command, in the request's order.
      // A create drew its id then (this retry drew others): the created streams stand in, in order.
      const written = [...new Set(original.events.filter((e) => e.stream_type === resource.kind).map((e) => e.stream_id))];
      const named = operations.map((op) => (op.create ? null : childStreamId(resource.kind, op.id)));
      const created = written.filter((s) => !named.includes(s));
      let next = 0;
      return Promise.all(named.map((s) => s ?? created[next++]!).map(async (streamId) => {
        const own = original.events.filter((e) => e.stream_id === streamId);
        if (own.length > 0) {
          const { state, version } = await loadAggregate(services, decider, streamId, { toVersion: Math.max(...own.map((e) => e.version)) });
          return { state: existing(state), version };
        }
        // An item the original left unchanged (a no-op): as its stream stood before the command.
        const before = (await services.store.readStream(streamId)).filter((e) => e.position < original.position);
        const { state, version } = foldEvents(decider, before);
        return { state: existing(state), version };
      }));
    },
  };
}

function existing<F>(state: ChildState<F>): Extract<ChildState<F>, { exists: true }> {
  if (!state.exists) throw new Error('a successful child command left no child');
  return state;
}
