import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Caller } from '../caller.js';
import { conflict, forbidden, invalid } from '../errors.js';
import { applyJsonPatch, checkPatched } from '../json-patch.js';
import { decideMetadata, type MetadataCommand } from '../metadata/decide.js';
import type { MetadataEvent } from '../metadata/events.js';
import {
  initialAccess, normalizeAccess, requireThreatModelRole, sameUser, subjectKey, transferOwnership, userFromCaller,
} from './authorization.js';
import { THREAT_MODEL_ENTITY, type ThreatModelEvent } from './events.js';
import { checkPatchAllowed, type PatchOperation } from './patch.js';
import type { ThreatModel, ThreatModelState } from './state.js';
import { sameValue } from '../same-value.js';
import {
  DEFAULT_FRAMEWORK, DEFAULT_STATUS, FRAMEWORKS, MAX_METADATA_ENTRIES, WritableThreatModel,
  type Authorization, type Metadata, type Role,
} from './values.js';

/** What a client sends to create or replace a threat model (TMI's ThreatModelInput). */
export interface ThreatModelInput {
  name: string;
  description?: string | null;
  threat_model_framework?: string | null;
  authorization?: Authorization[];
  metadata?: Metadata[] | null;
  issue_uri?: string | null;
  is_confidential?: boolean;
}

interface Base { caller: Caller; now: string }

export type ThreatModelCommand =
  | Base & { type: 'CreateThreatModel'; threat_model_id: string; alias: number; input: ThreatModelInput }
  | Base & { type: 'ReplaceThreatModel'; input: ThreatModelInput }
  | Base & { type: 'PatchThreatModel'; operations: PatchOperation[] }
  | Base & { type: 'DeleteThreatModel' }
  | Base & { type: 'RestoreThreatModel' }
  | Base & { type: 'ChangeThreatModelMetadata'; change: MetadataCommand }
  /** Back to the threat model as it was at an earlier version of its stream (an audit entry's). */
  | Base & { type: 'RollbackThreatModel'; target: ThreatModelState };

type Existing = Extract<ThreatModelState, { exists: true }>;

/**
 * The caller's role on a threat model, refusing as TMI does (`requireThreatModelRole`):
 * unknown or deleted answers "not found", an existing one out of the caller's reach
 * "forbidden". Restore targets a deleted threat model and refuses a live one as a conflict.
 */
export function requireRole(state: ThreatModelState, caller: Caller, min: Role, options: { deleted?: boolean } = {}): { state: Existing; role: Role } {
  const { threatModel, role } = requireThreatModelRole(state.exists ? state : null, caller, min, { restoring: options.deleted === true });
  if (options.deleted && threatModel.deleted_at === null) throw conflict('the threat model is not deleted');
  return { state: threatModel, role };
}

/** Frameworks are matched case-insensitively and stored in TMI's spelling. */
export function canonicalFramework(value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return DEFAULT_FRAMEWORK;
  const found = FRAMEWORKS.find((f) => f.toLowerCase() === value.toLowerCase());
  if (!found) throw invalid(`threat_model_framework must be one of ${FRAMEWORKS.join(', ')}`);
  return found;
}

const writableCheck = TypeCompiler.Compile(WritableThreatModel);

const writableOf = (s: ThreatModel): WritableThreatModel => ({
  name: s.name, description: s.description, threat_model_framework: s.threat_model_framework, issue_uri: s.issue_uri,
  project_id: s.project_id, status: s.status, security_reviewer: s.security_reviewer, owner: s.owner,
  authorization: s.authorization, metadata: s.metadata,
});

const accessSignature = (entries: readonly Authorization[]) =>
  entries.map((e) => `${subjectKey(e)}\u0000${e.role}\u0000${e.display_name ?? ''}\u0000${e.email ?? ''}`).sort().join('\n');

const metadataEvents = (s: ThreatModel, entries: Metadata[], now: string): MetadataEvent[] =>
  decideMetadata({ kind: 'bulk_replace', entries }, { entity_type: THREAT_MODEL_ENTITY, entity_id: s.id, entries: s.metadata, max: MAX_METADATA_ENTRIES }, now);

/** The events that turn the current threat model into `next`; [] when nothing changes. */
function changeEvents(s: ThreatModel, next: WritableThreatModel, now: string): ThreatModelEvent[] {
  const events: ThreatModelEvent[] = [];
  const details = {
    name: next.name, description: next.description, threat_model_framework: next.threat_model_framework,
    issue_uri: next.issue_uri, project_id: next.project_id, status: next.status, security_reviewer: next.security_reviewer,
  };
  const current = {
    name: s.name, description: s.description, threat_model_framework: s.threat_model_framework,
    issue_uri: s.issue_uri, project_id: s.project_id, status: s.status, security_reviewer: s.security_reviewer,
  };
  if (!sameValue(details, current)) {
    events.push({
      type: 'ThreatModelDetailsChanged',
      data: { threat_model_id: s.id, ...details, status_updated: next.status !== s.status ? now : s.status_updated, modified_at: now },
    });
  }
  if (!sameUser(next.owner, s.owner) || accessSignature(next.authorization) !== accessSignature(s.authorization)) {
    events.push({ type: 'ThreatModelAccessChanged', data: { threat_model_id: s.id, owner: next.owner, authorization: next.authorization, modified_at: now } });
  }
  events.push(...metadataEvents(s, next.metadata, now));
  return events;
}

function decideCreate(command: Extract<ThreatModelCommand, { type: 'CreateThreatModel' }>, state: ThreatModelState): ThreatModelEvent[] {
  if (state.exists) throw conflict('a threat model with this id already exists');
  const { input, caller, now } = command;
  const creator = userFromCaller(caller);
  const events: ThreatModelEvent[] = [{
    type: 'ThreatModelCreated',
    data: {
      threat_model_id: command.threat_model_id,
      alias: command.alias,
      name: input.name,
      description: input.description ?? null,
      threat_model_framework: canonicalFramework(input.threat_model_framework),
      issue_uri: input.issue_uri ?? null,
      project_id: null,
      status: DEFAULT_STATUS,
      status_updated: now,
      security_reviewer: null,
      is_confidential: input.is_confidential ?? false,
      owner: creator,
      created_by: creator,
      authorization: initialAccess(creator, input.authorization ?? [], input.is_confidential ?? false),
      created_at: now,
    },
  }];
  const metadata = input.metadata ?? [];
  if (metadata.length > 0) {
    events.push(...decideMetadata({ kind: 'bulk_create', entries: metadata },
      { entity_type: THREAT_MODEL_ENTITY, entity_id: command.threat_model_id, entries: [], max: MAX_METADATA_ENTRIES }, now));
  }
  return events;
}

function decideReplace(command: Extract<ThreatModelCommand, { type: 'ReplaceThreatModel' }>, state: ThreatModelState): ThreatModelEvent[] {
  const { state: s, role } = requireRole(state, command.caller, 'writer');
  const { input } = command;
  if (input.is_confidential !== undefined && input.is_confidential !== s.is_confidential) {
    throw invalid('is_confidential can only be set when a threat model is created');
  }
  let authorization = s.authorization;
  if (input.authorization !== undefined) {
    authorization = normalizeAccess(s.owner, input.authorization, s.security_reviewer);
    if (accessSignature(authorization) !== accessSignature(s.authorization) && role !== 'owner') {
      throw forbidden('only an owner may change the authorization list', { required_role: 'owner', user_role: role });
    }
  }
  return changeEvents(s, {
    ...writableOf(s),
    name: input.name,
    description: input.description ?? null,
    threat_model_framework: canonicalFramework(input.threat_model_framework),
    issue_uri: input.issue_uri ?? null,
    authorization,
    metadata: input.metadata === undefined || input.metadata === null ? s.metadata : input.metadata,
  }, command.now);
}

function decidePatch(command: Extract<ThreatModelCommand, { type: 'PatchThreatModel' }>, state: ThreatModelState): ThreatModelEvent[] {
  const { state: s, role } = requireRole(state, command.caller, 'writer');
  checkPatchAllowed(command.operations, role, command.caller);
  // Read-only members are present so `test` operations can look at them; the allowlist keeps writes off them.
  const document = { ...structuredClone(writableOf(s)), id: s.id, alias: s.alias, created_at: s.created_at, modified_at: s.modified_at, created_by: s.created_by, is_confidential: s.is_confidential };
  const patched = applyJsonPatch(document, command.operations);
  const { id: _i, alias: _a, created_at: _c, modified_at: _m, created_by: _b, is_confidential: _f, ...writable } = patched;
  const next = { ...writable } as WritableThreatModel;
  // Patching `null` into a nullable member and dropping it are the same request.
  for (const k of ['description', 'issue_uri', 'project_id', 'security_reviewer'] as const) if (next[k] === undefined) next[k] = null;
  if (next.metadata === undefined || (next.metadata as unknown) === null) next.metadata = [];
  checkPatched<WritableThreatModel>(writableCheck, next, 'threat model');
  next.threat_model_framework = canonicalFramework(next.threat_model_framework);
  if (next.project_id === '') next.project_id = null;
  next.authorization = sameUser(next.owner, s.owner)
    ? normalizeAccess(next.owner, next.authorization, next.security_reviewer)
    : transferOwnership(s.owner, next.owner, next.authorization, next.security_reviewer);
  return changeEvents(s, next, command.now);
}

/**
 * Back to the threat model's details and metadata as they were, deleted when it was deleted then.
 * Who has access stays as it is now (owner, authorization and the security reviewer, who holds an
 * entry of their own): access is changed on purpose, by its own rules, and going back to an older
 * list could give access back to someone it was taken from, or take it from the owner asking.
 */
function decideRollback(command: Extract<ThreatModelCommand, { type: 'RollbackThreatModel' }>, state: ThreatModelState): ThreatModelEvent[] {
  const { state: s } = requireRole(state, command.caller, 'owner');
  const { target } = command;
  if (!target.exists || target.id !== s.id) throw invalid('the threat model did not exist at that version');
  const events = changeEvents(s, {
    ...writableOf(target), owner: s.owner, authorization: s.authorization, security_reviewer: s.security_reviewer,
  }, command.now);
  if (target.deleted_at !== null) events.push({ type: 'ThreatModelDeleted', data: { threat_model_id: s.id, deleted_at: command.now } });
  return events;
}

export function decide(command: ThreatModelCommand, state: ThreatModelState): ThreatModelEvent[] {
  switch (command.type) {
    case 'CreateThreatModel':
      return decideCreate(command, state);
    case 'ReplaceThreatModel':
      return decideReplace(command, state);
    case 'PatchThreatModel':
      return decidePatch(command, state);
    case 'DeleteThreatModel': {
      const { state: s } = requireRole(state, command.caller, 'owner');
      return [{ type: 'ThreatModelDeleted', data: { threat_model_id: s.id, deleted_at: command.now } }];
    }
    case 'RestoreThreatModel': {
      const { state: s } = requireRole(state, command.caller, 'owner', { deleted: true });
      return [{ type: 'ThreatModelRestored', data: { threat_model_id: s.id, restored_at: command.now } }];
    }
    case 'RollbackThreatModel':
      return decideRollback(command, state);
    case 'ChangeThreatModelMetadata': {
      const { state: s } = requireRole(state, command.caller, 'writer');
      return decideMetadata(command.change, { entity_type: THREAT_MODEL_ENTITY, entity_id: s.id, entries: s.metadata, max: MAX_METADATA_ENTRIES }, command.now);
    }
  }
}
