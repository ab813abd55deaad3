import { CHILD_AGGREGATES } from '../commands/children.js';
import { childStreamId, isLiveChildOf, type Child, type ChildAggregate, type ChildKind, type ChildState } from '../commands/child-resources/index.js';
import { THREAT_MODEL_STREAM_TYPE, threatModelStreamId } from '../commands/threat-models/events.js';
import type { ThreatModel, ThreatModelState } from '../commands/threat-models/state.js';
import type { StoredEvent } from '../events/types.js';
import { readStreamsAsOf, type AsOf, type AsOfScope } from '../queries/as-of.js';
import type { Services } from '../services.js';
import { invalid } from '../commands/errors.js';
import { foldEvents } from './execute-command.js';
import { threatModelDecider } from './threat-models.js';

/**
 * Time travel: a threat model and its sub-resources as they were at a point of the history,
 * folded from the events with the aggregates' own evolvers (`foldEvents`, the fold every command
 * loads through), never from the read tables. Snapshots are not read: they are keyed by stream
 * version, so one could stand in only for a prefix whose last event is at or below the position
 * (docs/architecture.md, "Time travel").
 */

export type Versioned<T> = T & { version: number };

/** The state of one kind's children at the position, by stream. */
type Folded = { kind: string; state: unknown; version: number };

const AGGREGATE_OF = new Map<string, ChildAggregate<object>>(CHILD_AGGREGATES.map((a) => [a.resource.kind, a as unknown as ChildAggregate<object>]));

/** Each stream's events folded by its own aggregate; streams of a type with none (never read here) are left out. */
function foldByStream(events: readonly StoredEvent[]): Map<string, Folded> {
  const byStream = new Map<string, StoredEvent[]>();
  for (const e of events) {
    let own = byStream.get(e.stream_id);
    if (!own) byStream.set(e.stream_id, own = []);
    own.push(e);
  }
  const out = new Map<string, Folded>();
  for (const [stream, own] of byStream) {
    const kind = own[0]!.stream_type;
    const decider = kind === THREAT_MODEL_STREAM_TYPE ? threatModelDecider : AGGREGATE_OF.get(kind)?.decider;
    if (decider) out.set(stream, { kind, ...foldEvents<unknown, never>(decider as never, own) });
  }
  return out;
}

/** The threat model when it existed and was not deleted at the position. */
function liveThreatModel(folded: Map<string, Folded>): Versioned<ThreatModel> | null {
  const own = [...folded.values()].find((f) => f.kind === THREAT_MODEL_STREAM_TYPE);
  const state = own?.state as ThreatModelState | undefined;
  return state?.exists && state.deleted_at === null ? { ...state, version: own!.version } : null;
}

/** The children of one kind under the threat model then: the live ones, or (`includeDeleted`) every one created by then. */
function childrenOf(folded: Map<string, Folded>, threatModelId: string, kind: ChildKind, includeDeleted: boolean): Versioned<Child<object>>[] {
  const out: Versioned<Child<object>>[] = [];
  for (const f of folded.values()) {
    const state = f.state as ChildState<object>;
    if (f.kind !== kind || !state.exists || state.threat_model_id !== threatModelId) continue;
    if (includeDeleted || isLiveChildOf(state, threatModelId)) out.push({ ...state, version: f.version });
  }
  // The read tables' order of a parent's children: oldest first, ties by id.
  return out.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface ThreatModelAsOf {
  /** The position the answer is as of (see readStreamsAsOf). */
  position: number;
  /** Null when it did not exist yet or was deleted then: its sub-resources are hidden with it, as today. */
  threatModel: Versioned<ThreatModel> | null;
  /** The children of the given kinds, oldest first, keyed by kind. */
  children: Map<ChildKind, Versioned<Child<object>>[]>;
}

async function asOfScope(services: Services, scope: AsOfScope, asOf: AsOf, kinds: readonly ChildKind[], includeDeleted = false): Promise<ThreatModelAsOf> {
  // One request folds at most this many events: read one more to know, then refuse rather than hold the memory and the CPU.
  const max = services.config.limits.as_of_max_events;
  const { position, events } = await readStreamsAsOf(services.database.pool, services.store.catalog, scope, asOf, max);
  if (events.length > max) {
    throw invalid(`as_of would fold more than ${max} events of this threat model's history (limits.as_of_max_events); `
      + 'read one sub-resource as of then (its item GET reads its own stream and its threat model\'s only)', { as_of_max_events: max });
  }
  const folded = foldByStream(events);
  const threatModel = liveThreatModel(folded);
  const children = new Map(kinds.map((k) => [k, threatModel ? childrenOf(folded, scope.threatModelId, k, includeDeleted) : []]));
  return { position, threatModel, children };
}

/**
 * The threat model with its children of the given kinds (all of them by default) as of then: the
 * live ones, or every one created by then with `includeDeleted` (an owner's list).
 */
export function threatModelAsOf(
  services: Services, threatModelId: string, asOf: AsOf,
  kinds: readonly ChildKind[] = CHILD_AGGREGATES.map((a) => a.resource.kind), options: { includeDeleted?: boolean } = {},
): Promise<ThreatModelAsOf> {
  return asOfScope(services, { threatModelId, types: [THREAT_MODEL_STREAM_TYPE, ...kinds] }, asOf, kinds, options.includeDeleted);
}

/** One child and its parent as of then; the child is null unless it lived under that parent then. */
export async function childAsOf(services: Services, kind: ChildKind, threatModelId: string, childId: string, asOf: AsOf): Promise<{ position: number; threatModel: Versioned<ThreatModel> | null; child: Versioned<Child<object>> | null }> {
  const streams = [threatModelStreamId(threatModelId), childStreamId(kind, childId)];
  const { position, threatModel, children } = await asOfScope(services, { threatModelId, streams }, asOf, [kind]);
  return { position, threatModel, child: children.get(kind)!.find((c) => c.id === childId) ?? null };
}
