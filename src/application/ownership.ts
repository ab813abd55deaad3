import type { Caller } from '../commands/caller.js';
import { decideRelinquish, decideTransfer, successorEntries } from '../commands/threat-models/ownership.js';
import { THREAT_MODEL_STREAM_TYPE, threatModelStreamId, type ThreatModelEvent } from '../commands/threat-models/events.js';
import type { ThreatModelState } from '../commands/threat-models/state.js';
import type { User } from '../commands/threat-models/values.js';
import type { NewEvent, StreamAppend } from '../events/types.js';
import { THREAT_MODEL_ACCESS_PROJECTION } from '../projections/threat-model-access.js';
import { THREAT_MODELS_PROJECTION } from '../projections/threat-models.js';
import { ownerCandidateIds } from '../queries/threat-models.js';
import { usersForEntries } from '../queries/users.js';
import type { Services } from '../services.js';
import { awaitPosition, loadAggregate } from './execute-command.js';
import { threatModelDecider } from './threat-models.js';

/**
 * The ids of every live threat model the caller may own, once the read tables hold everything
 * committed so far (a threat model created a moment ago is among them); null when the
 * projections did not get there in time, so the caller can refuse rather than miss one.
 */
export async function ownedThreatModelCandidates(services: Services, caller: Caller): Promise<string[] | null> {
  const head = await services.store.headPosition();
  if (!await awaitPosition(services, [THREAT_MODELS_PROJECTION, THREAT_MODEL_ACCESS_PROJECTION], head)) return null;
  return ownerCandidateIds(services.database.pool, caller);
}

export interface LoadedThreatModel { id: string; state: ThreatModelState; version: number }

export async function loadThreatModels(services: Services, ids: readonly string[]): Promise<LoadedThreatModel[]> {
  return Promise.all(ids.map(async (id) => ({ id, ...await loadAggregate(services, threatModelDecider, threatModelStreamId(id)) })));
}

/** An append of a threat model's decided events at the version they were decided against. */
export const threatModelAppend = (loaded: LoadedThreatModel, events: ThreatModelEvent[]): StreamAppend => ({
  stream_id: threatModelStreamId(loaded.id),
  stream_type: THREAT_MODEL_STREAM_TYPE,
  expected: loaded.version === 0 ? 'no_stream' : loaded.version,
  events: events as NewEvent[],
});

/** `POST /me/transfer`: every threat model the caller owns goes to `target`; the caller stays as a writer. */
export async function decideOwnershipTransfer(services: Services, caller: Caller, target: User, candidates: readonly string[], now: string) {
  const decided = (await loadThreatModels(services, candidates))
    .map((tm) => ({ tm, events: decideTransfer(tm.state, caller, target, now) }))
    .filter((d) => d.events.length > 0);
  return { appends: decided.map((d) => threatModelAppend(d.tm, d.events)), result: decided.map((d) => d.tm.id) };
}

/**
 * Account deletion's part for threat models: shared ones go to another owner from their access
 * list, the rest are deleted. Successors are resolved to full users from the read table at
 * decision time, from the access list on the stream.
 */
export async function decideOwnershipRelinquish(services: Services, caller: Caller, candidates: readonly string[], now: string) {
  const decided = await Promise.all((await loadThreatModels(services, candidates)).map(async (tm) => {
    const successors = await usersForEntries(services.database.pool, successorEntries(tm.state, caller));
    return { tm, events: decideRelinquish(tm.state, caller, successors, now) };
  }));
  const changed = decided.filter((d) => d.events.length > 0);
  const deleted = changed.filter((d) => d.events.some((e) => e.type === 'ThreatModelDeleted')).map((d) => d.tm.id);
  return {
    appends: changed.map((d) => threatModelAppend(d.tm, d.events)),
    result: { deleted, transferred: changed.map((d) => d.tm.id).filter((id) => !deleted.includes(id)) },
  };
}
