import { userDecider } from '../auth/identity.js';
import type { Caller } from '../commands/caller.js';
import { notFound } from '../commands/errors.js';
import { userStreamId } from '../commands/users/events.js';
import type { UserState } from '../commands/users/state.js';
import { decideRelinquish, decideTransfer, successorEntries } from '../commands/threat-models/ownership.js';
import { THREAT_MODEL_STREAM_TYPE, threatModelStreamId, type ThreatModelEvent } from '../commands/threat-models/events.js';
import type { ThreatModelState } from '../commands/threat-models/state.js';
import type { User } from '../commands/threat-models/values.js';
import type { NewEvent, StreamAppend } from '../events/types.js';
import { THREAT_MODEL_ACCESS_PROJECTION } from '../projections/threat-model-access.js';
import { THREAT_MODELS_PROJECTION } from '../projections/threat-models.js';
import { USERS_PROJECTION } from '../projections/users.js';
import { ownerCandidateIds } from '../queries/threat-models.js';
import { usersForEntries } from '../queries/users.js';
import type { Services } from '../services.js';
import { loadAggregate } from './execute-command.js';
import { threatModelDecider } from './threat-models.js';
import { displayNameOf } from '../commands/users/display-name.js';

/**
 * The ids of every live threat model the caller may own, once the read tables hold everything
 * committed so far (a threat model created a moment ago is among them, and so is a user who
 * signed in a moment ago, as a successor); null when the projections did not get there in time
 * (or one is halted), so the caller can refuse rather than miss one.
 */
export async function ownedThreatModelCandidates(services: Services, caller: Caller): Promise<string[] | null> {
  const head = await services.store.headPosition();
  const projections = [THREAT_MODELS_PROJECTION, THREAT_MODEL_ACCESS_PROJECTION, USERS_PROJECTION];
  if (!await services.progress.waitFor(projections, head, services.config.server.read_your_writes_timeout_ms)) return null;
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

/**
 * `POST /me/transfer`: every threat model the caller owns goes to the target user; the caller
 * stays as a writer. The target is read from their stream, and the decision relies on them not
 * being deleted meanwhile (a condition on their stream): a transfer racing the target's account
 * deletion is decided again, and refused, rather than leave threat models owned by nobody.
 */
export async function decideOwnershipTransfer(services: Services, caller: Caller, targetId: string, candidates: readonly string[], now: string) {
  const { state: target, version } = await loadAggregate(services, userDecider, userStreamId(targetId));
  if (target.status !== 'active') throw notFound('target user not found');
  const to = userFromState(target);
  const decided = (await loadThreatModels(services, candidates))
    .map((tm) => ({ tm, events: decideTransfer(tm.state, caller, to, now) }))
    .filter((d) => d.events.length > 0);
  return {
    appends: decided.map((d) => threatModelAppend(d.tm, d.events)),
    conditions: [{ stream_id: userStreamId(targetId), unchanged_since: version, types: ['UserDeleted'] }],
    result: decided.map((d) => d.tm.id),
  };
}

/** A user as threat models name them (owner, authorization entries), from their stream. */
const userFromState = (u: UserState): User => ({
  principal_type: 'user', provider: u.provider, provider_id: u.provider_user_id, display_name: displayNameOf(u.name, u.email), email: u.email,
});

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
