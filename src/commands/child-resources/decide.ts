import { TypeCompiler } from '@sinclair/typebox/compiler';
import { conflict, forbidden, invalid, notFound } from '../errors.js';
import { applyJsonPatch, checkPatched, topMember, type PatchOperation } from '../json-patch.js';
import { decideMetadata, type MetadataCommand } from '../metadata/decide.js';
import type { MetadataEvent } from '../metadata/events.js';
import { roleAtLeast } from '../threat-models/authorization.js';
import type { Metadata, Role } from '../threat-models/values.js';
import { childEventTypes, type ChildResource } from './definition.js';
import type { ChildCreated, ChildChanged, ChildEvent } from './events.js';
import type { Child, ChildState } from './state.js';
import { sameValue } from '../same-value.js';

/**
 * Every command is decided for a caller whose role on the parent threat model is already known
 * (the parent's access list, read from its stream by the command's scope): `role` is at least
 * reader, or the scope refused already.
 */
interface Base { role: Role; threat_model_id: string; now: string }

/** What a client sends to create or replace a child: its writable fields and, optionally, metadata. */
export type ChildInput = Record<string, unknown> & { metadata?: Metadata[] | null };

export type ChildCommand =
  | Base & { type: 'Create'; id: string; alias: number; input: ChildInput; auto_generated: boolean }
  | Base & { type: 'Replace'; input: ChildInput }
  | Base & { type: 'Patch'; operations: PatchOperation[] }
  | Base & { type: 'Delete' }
  | Base & { type: 'Restore' }
  | Base & { type: 'ChangeMetadata'; change: MetadataCommand }
  /** Back to the child as it was at an earlier version of its stream (an audit entry's). */
  | Base & { type: 'Rollback'; target: ChildState<object> };

const requireRole = (role: Role, min: Role, label: string) => {
  if (!roleAtLeast(role, min)) throw forbidden(`${label}: this requires the ${min} role`, { required_role: min, user_role: role });
};

/** Read-only members a patch may `test` but never change. */
const READ_ONLY = ['id', 'threat_model_id', 'alias', 'created_at', 'modified_at', 'deleted_at', 'version', 'auto_generated'];

/** The decide function of one kind of child resource. */
export function childDecider<F extends object>(resource: ChildResource<F>) {
  const types = childEventTypes(resource.label);
  const writable = TypeCompiler.Compile(resource.writable);
  const input = TypeCompiler.Compile(resource.input);
  const writableMembers = new Set(Object.keys((resource.writable as { properties?: object }).properties ?? {}));
  const name = resource.label.toLowerCase();

  const live = (state: ChildState<F>, command: Base, options: { deleted?: boolean; any?: boolean } = {}): Child<F> => {
    // A child is reached through its parent: one under another threat model does not exist here.
    if (!state.exists || state.threat_model_id !== command.threat_model_id) throw notFound(`${name} not found`);
    if (options.any) return state;
    if (state.deleted_at !== null && !options.deleted) throw notFound(`${name} not found`);
    if (options.deleted && state.deleted_at === null) throw conflict(`the ${name} is not deleted`);
    return state;
  };

  const fieldsOf = (input: ChildInput): F => {
    const { metadata: _metadata, ...rest } = input;
    const fields = resource.fromInput(rest);
    resource.check?.(fields);
    return fields;
  };

  const metadataEvents = (child: Pick<Child<F>, 'id' | 'metadata'>, change: MetadataCommand, now: string): MetadataEvent[] =>
    decideMetadata(change, { entity_type: resource.kind, entity_id: child.id, entries: child.metadata, max: resource.maxMetadata }, now);

  const changeEvents = (child: Child<F>, fields: F, metadata: Metadata[] | null | undefined, now: string): ChildEvent[] => {
    const events: ChildEvent[] = [];
    if (!sameValue(fields, child.fields)) {
      const data: ChildChanged<F> = { threat_model_id: child.threat_model_id, id: child.id, fields, modified_at: now };
      events.push({ type: types.changed, data });
    }
    // Metadata left out of a replacement is kept; given, it replaces the entries.
    if (metadata !== undefined && metadata !== null) events.push(...metadataEvents(child, { kind: 'bulk_replace', entries: metadata }, now));
    return events;
  };

  function decidePatch(command: Extract<ChildCommand, { type: 'Patch' }>, child: Child<F>): ChildEvent[] {
    for (const op of command.operations) {
      if (op.op === 'test') continue;
      for (const pointer of [op.path, ...(op.from !== undefined ? [op.from] : [])]) {
        const member = topMember(pointer);
        if (member === null || member === '') throw invalid(`patch path "${pointer}" does not address a field`);
        if (member !== 'metadata' && !writableMembers.has(member)) throw invalid(`patch path "${pointer}" is read-only or unknown`);
      }
    }
    const document: Record<string, unknown> = {
      ...structuredClone(child.fields) as Record<string, unknown>, metadata: child.metadata,
      id: child.id, threat_model_id: child.threat_model_id, alias: child.alias, created_at: child.created_at, modified_at: child.modified_at,
    };
    const patched = applyJsonPatch(document, command.operations);
    for (const k of READ_ONLY) delete patched[k];
    // The patched resource must be a body PUT would take: otherwise TMI's defaults would turn a
    // null the contract refuses into a value (include_in_report: null → true). An unset (null)
    // member no operation wrote counts as left out.
    const written = new Set(command.operations.filter((op) => op.op !== 'test').map((op) => topMember(op.path)));
    const asInput = Object.fromEntries(Object.entries(patched).filter(([k, v]) => v !== null || written.has(k)));
    checkPatched(input, asInput, name);
    const { metadata, ...rest } = patched;
    const fields = resource.fromInput(rest);
    checkPatched<F>(writable, fields, name);
    resource.check?.(fields);
    return changeEvents(child, fields, (metadata ?? []) as Metadata[], command.now);
  }

  /**
   * The events that bring the child back to `target`: restored first when it is deleted now, its
   * fields and metadata as they were, and deleted again when it was deleted then (so a later restore
   * brings back what it was when it was deleted). Nothing when it already is as it was.
   */
  function decideRollback(child: Child<F>, target: ChildState<F>, now: string): ChildEvent[] {
    if (!target.exists || target.id !== child.id) throw notFound(`${name} not found at that version`);
    const events: ChildEvent[] = [];
    const ref = { threat_model_id: child.threat_model_id, id: child.id };
    if (child.deleted_at !== null && target.deleted_at === null) events.push({ type: types.restored, data: { ...ref, restored_at: now } });
    events.push(...changeEvents(child, target.fields, target.metadata, now));
    if (child.deleted_at === null && target.deleted_at !== null) events.push({ type: types.deleted, data: { ...ref, deleted_at: now } });
    return events;
  }

  return function decide(command: ChildCommand, state: ChildState<F>): ChildEvent[] {
    switch (command.type) {
      case 'Create': {
        requireRole(command.role, 'writer', `creating a ${name}`);
        if (state.exists) throw conflict(`a ${name} with this id already exists`);
        const data: ChildCreated<F> = {
          threat_model_id: command.threat_model_id, id: command.id, alias: command.alias, fields: fieldsOf(command.input),
          auto_generated: command.auto_generated, created_at: command.now,
        };
        const metadata = command.input.metadata ?? [];
        return [
          { type: types.created, data },
          ...(metadata.length > 0 ? metadataEvents({ id: command.id, metadata: [] }, { kind: 'bulk_create', entries: metadata }, command.now) : []),
        ];
      }
      case 'Replace': {
        requireRole(command.role, 'writer', `changing a ${name}`);
        const child = live(state, command);
        return changeEvents(child, fieldsOf(command.input), command.input.metadata, command.now);
      }
      case 'Patch':
        requireRole(command.role, 'writer', `changing a ${name}`);
        return decidePatch(command, live(state, command));
      case 'Delete': {
        requireRole(command.role, resource.deleteRole, `deleting a ${name}`);
        const child = live(state, command);
        return [{ type: types.deleted, data: { threat_model_id: child.threat_model_id, id: child.id, deleted_at: command.now } }];
      }
      case 'Restore': {
        requireRole(command.role, 'owner', `restoring a ${name}`);
        const child = live(state, command, { deleted: true });
        return [{ type: types.restored, data: { threat_model_id: child.threat_model_id, id: child.id, restored_at: command.now } }];
      }
      case 'ChangeMetadata':
        requireRole(command.role, 'writer', `changing a ${name}'s metadata`);
        return metadataEvents(live(state, command), command.change, command.now);
      case 'Rollback':
        requireRole(command.role, 'owner', `rolling back a ${name}`);
        return decideRollback(live(state, command, { any: true }), command.target as ChildState<F>, command.now);
    }
  };
}
