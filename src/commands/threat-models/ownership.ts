import type { Caller } from '../caller.js';
import { entryMatches, normalizeAccess, sameUser, subjectKey, userFromCaller } from './authorization.js';
import type { ThreatModelEvent } from './events.js';
import type { ThreatModelState } from './state.js';
import type { Authorization, User } from './values.js';

/**
 * What happens to the threat models a user owns when they hand them over (`POST /me/transfer`)
 * or leave (`DELETE /me`). Both run over many threat models in one atomic command, so a
 * threat model that is no longer the caller's by the time it is decided is skipped (no events),
 * never an error that would undo the others.
 */
type Live = Extract<ThreatModelState, { exists: true }>;

/** The threat model is live and the caller is its owner (the owner field, not merely an owner entry). */
export function ownedBy(state: ThreatModelState, caller: Caller): state is Live {
  return state.exists && state.deleted_at === null && entryMatches(state.owner, caller);
}

/** The caller's own user entries (by any id an entry may name them by); group entries are not theirs to change. */
const isCallersUserEntry = (entry: Authorization, caller: Caller) => entry.principal_type === 'user' && entryMatches(entry, caller);

/**
 * TMI's transfer: the target becomes owner, the caller keeps access as a writer. An assigned
 * security reviewer keeps an owner entry, as everywhere (normalizeAccess), even when that is the caller.
 */
export function decideTransfer(state: ThreatModelState, caller: Caller, target: User, now: string): ThreatModelEvent[] {
  if (!ownedBy(state, caller) || sameUser(state.owner, target)) return [];
  const entries = state.authorization.map((e) => (isCallersUserEntry(e, caller) ? { ...e, role: 'writer' as const } : e));
  if (!entries.some((e) => isCallersUserEntry(e, caller))) entries.push({ ...userFromCaller(caller), role: 'writer' });
  const authorization = normalizeAccess(target, entries, state.security_reviewer);
  return [{ type: 'ThreatModelAccessChanged', data: { threat_model_id: state.id, owner: target, authorization, modified_at: now } }];
}

/** The other users holding an owner entry, in list order: who may take a threat model over when its owner leaves. */
export function successorEntries(state: ThreatModelState, caller: Caller): Authorization[] {
  if (!ownedBy(state, caller)) return [];
  return state.authorization.filter((e) => e.principal_type === 'user' && e.role === 'owner' && !entryMatches(e, caller));
}

/**
 * When the owner deletes their account: a threat model shared with another owner goes to the
 * first of them (`successors`, resolved to full users by the caller of this function from
 * `successorEntries`) and the leaving user's entries are removed; one nobody else owns is
 * deleted (soft: an administrator can restore it).
 */
export function decideRelinquish(state: ThreatModelState, caller: Caller, successors: readonly User[], now: string): ThreatModelEvent[] {
  if (!ownedBy(state, caller)) return [];
  const candidates = new Set(successorEntries(state, caller).map(subjectKey));
  const next = successors.find((u) => candidates.has(subjectKey(u)));
  if (!next) return [{ type: 'ThreatModelDeleted', data: { threat_model_id: state.id, deleted_at: now } }];
  const events: ThreatModelEvent[] = [];
  const leavingReviewer = state.security_reviewer !== null && entryMatches(state.security_reviewer, caller);
  if (leavingReviewer) {
    const { id, name, description, threat_model_framework, issue_uri, project_id, status, status_updated } = state;
    events.push({
      type: 'ThreatModelDetailsChanged',
      data: { threat_model_id: id, name, description, threat_model_framework, issue_uri, project_id, status, status_updated, security_reviewer: null, modified_at: now },
    });
  }
  const remaining = state.authorization.filter((e) => !isCallersUserEntry(e, caller));
  const authorization = normalizeAccess(next, remaining, leavingReviewer ? null : state.security_reviewer);
  events.push({ type: 'ThreatModelAccessChanged', data: { threat_model_id: state.id, owner: next, authorization, modified_at: now } });
  return events;
}
