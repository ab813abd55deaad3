import { ADMINISTRATORS, EVERYONE, SECURITY_REVIEWERS, type Caller } from '../caller.js';
import { forbidden, invalid, notFound } from '../errors.js';
import type { Authorization, Role, User } from './values.js';
import { displayNameOf } from '../users/display-name.js';

/**
 * TMI's access rules for a threat model, as pure functions: the command side decides with
 * them and the query side checks a read row with them, so both agree by construction.
 */
export const CONFIDENTIAL_PROJECT_REVIEWERS = 'confidential-project-reviewers';
export const TMI_AUTOMATION = 'tmi-automation';
/** TMI's built-in groups are named with provider `*`, matching a member from any identity provider. */
export const ANY_PROVIDER = '*';

const RANK: Record<Role, number> = { reader: 1, writer: 2, owner: 3 };

export const roleAtLeast = (role: Role | null, min: Role): boolean => role !== null && RANK[role] >= RANK[min];
const higher = (a: Role | null, b: Role): Role => (a === null || RANK[b] > RANK[a] ? b : a);

export interface AccessList {
  owner: User;
  authorization: readonly Authorization[];
}

/** The built-in groups TMI itself grants the caller: everyone, and the roles its configuration gives. */
function grantedGroups(caller: Caller): string[] {
  const groups = [EVERYONE];
  if (caller.is_security_reviewer) groups.push(SECURITY_REVIEWERS);
  if (caller.is_admin) groups.push(ADMINISTRATORS);
  return groups;
}

/**
 * The ids a user entry may name the caller by, as TMI matches them: the provider's id, the
 * internal id and, only when the provider verified it, the email, lower-cased. An unverified
 * email is a claim anyone can make at some providers (set any address on the account, never
 * confirm it), so it must not unlock what was shared with that address's owner.
 */
export const callerUserKeys = (caller: Caller): string[] =>
  [...new Set([caller.provider_id, caller.user_id, ...(caller.email_verified ? [caller.email] : [])].map((k) => k.toLowerCase()))];

const BUILT_IN_GROUPS = new Set([EVERYONE, SECURITY_REVIEWERS, ADMINISTRATORS, CONFIDENTIAL_PROJECT_REVIEWERS, TMI_AUTOMATION]);
/** TMI names its built-in groups with provider `*`; the contract also allows `tmi` for them. */
const BUILT_IN_PROVIDER = 'tmi';

export interface SubjectKey { principal_type: 'user' | 'group'; provider: string; subject: string }

/**
 * Every (type, provider, lower-cased id) an authorization entry may use to name the caller.
 * The command side matches entries against it and the list query looks the same keys up in
 * the access table, so both sides agree on who can read what.
 */
export function callerSubjectKeys(caller: Caller): SubjectKey[] {
  const providers = [...new Set([ANY_PROVIDER, caller.provider])];
  const granted = grantedGroups(caller);
  const asserted = [...new Set(caller.groups.map((g) => g.toLowerCase()))];
  const keys: SubjectKey[] = [];
  for (const provider of providers) {
    for (const subject of callerUserKeys(caller)) keys.push({ principal_type: 'user', provider, subject });
    // A group the identity provider asserts counts under that provider's own name; under `*` or `tmi` a
    // built-in name is TMI's group, granted only by TMI (else an IdP group called security-reviewers would own every threat model).
    const ownProvider = provider === caller.provider && provider !== BUILT_IN_PROVIDER;
    const groups = new Set([...granted, ...asserted.filter((g) => ownProvider || !BUILT_IN_GROUPS.has(g))]);
    for (const subject of groups) keys.push({ principal_type: 'group', provider, subject });
  }
  if (!providers.includes(BUILT_IN_PROVIDER)) {
    for (const subject of granted) keys.push({ principal_type: 'group', provider: BUILT_IN_PROVIDER, subject });
  }
  return keys;
}

/**
 * The subject an entry names, folded as everything that compares subjects folds it: read tables
 * store this, never PostgreSQL's lower(), which folds some letters (İ) differently.
 */
export const subjectOf = (e: Pick<Authorization, 'provider_id'>): string => e.provider_id.toLowerCase();

export function entryMatches(entry: Pick<Authorization, 'principal_type' | 'provider' | 'provider_id'>, caller: Caller): boolean {
  const subject = subjectOf(entry);
  return callerSubjectKeys(caller).some((k) => k.principal_type === entry.principal_type && k.provider === entry.provider && k.subject === subject);
}

/** The caller's highest role on a threat model, or null when it grants them nothing. */
export function effectiveRole(caller: Caller, access: AccessList): Role | null {
  let role: Role | null = null;
  if (entryMatches(access.owner, caller)) role = 'owner';
  for (const entry of access.authorization) if (entryMatches(entry, caller)) role = higher(role, entry.role);
  return role;
}

/** What the access rule reads of a threat model: its access list and whether it is deleted. Fits the aggregate's state and the read row alike. */
export interface GuardedThreatModel extends AccessList {
  deleted_at: string | null;
}

export interface AccessOptions {
  /** Restoring: the target is a deleted threat model, and an administrator acts as its owner. */
  restoring?: boolean;
}

/**
 * TMI's answer to "may the caller act on this threat model with at least `min`": a threat
 * model that does not exist (null) or is deleted is not found; one that exists but that the
 * caller's role does not reach, no role at all included, is forbidden. The read gate of
 * every query and the deciders of every command, the threat model's and its child
 * resources', decide through here, so they answer alike by construction.
 */
export function requireThreatModelRole<T extends GuardedThreatModel>(
  threatModel: T | null, caller: Caller, min: Role, options: AccessOptions = {},
): { threatModel: T; role: Role } {
  if (threatModel === null) throw notFound('threat model not found');
  // A deleted threat model is invisible to everything but restore.
  if (threatModel.deleted_at !== null && !options.restoring) throw notFound('threat model not found');
  const role = caller.is_admin && options.restoring ? 'owner' : effectiveRole(caller, threatModel);
  if (role === null || !roleAtLeast(role, min)) throw forbidden(`this requires the ${min} role`, { required_role: min, user_role: role ?? 'none' });
  return { threatModel, role };
}

/** Two entries name the same subject when type, provider and (case-insensitive) id agree. */
export const subjectKey = (e: Pick<Authorization, 'principal_type' | 'provider' | 'provider_id'>): string =>
  `${e.principal_type}\u0000${e.provider}\u0000${subjectOf(e)}`;

export function refuseDuplicateSubjects(entries: readonly Authorization[]): void {
  const seen = new Set<string>();
  for (const e of entries) {
    const key = subjectKey(e);
    if (seen.has(key)) throw invalid(`duplicate authorization subject: ${e.principal_type} ${e.provider}/${e.provider_id}`);
    seen.add(key);
  }
}

export const userFromCaller = (caller: Caller): User => ({
  principal_type: 'user',
  provider: caller.provider,
  provider_id: caller.provider_id,
  display_name: displayNameOf(caller.name, caller.email),
  email: caller.email,
});

const ownerEntry = (user: User): Authorization => ({ ...user, role: 'owner' });

const builtInGroup = (name: string, display_name: string, role: Role): Authorization =>
  ({ principal_type: 'group', provider: ANY_PROVIDER, provider_id: name, display_name, role });

/**
 * TMI's entries on every new threat model: its reviewers group as owner (the confidential
 * project reviewers for a confidential one, the security reviewers otherwise) and the TMI
 * automation group as writer.
 */
export const defaultEntries = (confidential: boolean): Authorization[] => [
  confidential
    ? builtInGroup(CONFIDENTIAL_PROJECT_REVIEWERS, 'Confidential Project Reviewers', 'owner')
    : builtInGroup(SECURITY_REVIEWERS, 'Security Reviewers', 'owner'),
  builtInGroup(TMI_AUTOMATION, 'TMI Automation', 'writer'),
];

/** Makes sure each given user holds an owner entry: added when missing, raised when lower. */
function withOwners(entries: readonly Authorization[], owners: readonly User[]): Authorization[] {
  const out = entries.map((e) => ({ ...e }));
  for (const user of owners) {
    const found = out.find((e) => subjectKey(e) === subjectKey(user));
    if (found) found.role = 'owner';
    else out.push(ownerEntry(user));
  }
  return out;
}

/**
 * The access list as stored: the owner and an assigned security reviewer always hold owner
 * entries (TMI keeps them even when a client's list leaves them out).
 */
export function normalizeAccess(owner: User, entries: readonly Authorization[], securityReviewer: User | null): Authorization[] {
  refuseDuplicateSubjects(entries);
  return withOwners(entries, securityReviewer ? [owner, securityReviewer] : [owner]);
}

/**
 * The access list of a new threat model, in TMI's order: the creator as owner first, then the
 * caller's entries, then TMI's default groups unless the caller already named them.
 */
export function initialAccess(creator: User, requested: readonly Authorization[], confidential: boolean): Authorization[] {
  refuseDuplicateSubjects(requested);
  const creatorKey = subjectKey(creator);
  const rest = requested.filter((e) => subjectKey(e) !== creatorKey).map((e) => ({ ...e }));
  const named = new Set(rest.filter((e) => e.principal_type === 'group').map((e) => e.provider_id.toLowerCase()));
  const defaults = defaultEntries(confidential).filter((d) => !named.has(d.provider_id));
  return [ownerEntry(creator), ...rest, ...defaults];
}

/** Handing ownership over keeps the previous owner as an owner entry. */
export function transferOwnership(previous: User, next: User, entries: readonly Authorization[], securityReviewer: User | null): Authorization[] {
  return normalizeAccess(next, withOwners(entries, [previous]), securityReviewer);
}

export const sameUser = (a: User, b: User): boolean => subjectKey(a) === subjectKey(b);
