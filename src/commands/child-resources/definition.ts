import type { TObject, TSchema } from '@sinclair/typebox';
import type { EventDefinition } from '../../events/catalog.js';
import type { Role } from '../threat-models/values.js';

/** The kinds of resource that live under a threat model; each is also its stream type and metadata entity type. */
export const CHILD_KINDS = ['threat', 'diagram', 'document', 'repository', 'note', 'asset'] as const;
export type ChildKind = (typeof CHILD_KINDS)[number];

/** The cached count on the parent threat model each kind moves. */
export const COUNT_COLUMN_OF: Record<ChildKind, 'threat_count' | 'diagram_count' | 'document_count' | 'repo_count' | 'note_count' | 'asset_count'> = {
  threat: 'threat_count', diagram: 'diagram_count', document: 'document_count', repository: 'repo_count', note: 'note_count', asset: 'asset_count',
};

/**
 * What makes one kind of child resource different from the others. Everything else — the
 * lifecycle (create, replace, patch, delete, restore), metadata, versions, the parent's
 * authorization — is shared and written once (`decide.ts`, `state.ts`, `events.ts`).
 */
export interface ChildResource<F extends object = Record<string, unknown>> {
  kind: ChildKind;
  /** The collection's name: its path segment under a threat model, its read table and projection. */
  plural: string;
  /** Names the events (`ThreatCreated`, `ThreatChanged`, …) and the resource in messages. */
  label: string;
  /**
   * The writable fields with the contract's limits, as stored (defaults filled in, metadata
   * apart): a created, replaced or patched resource must satisfy it.
   */
  writable: TSchema;
  /** The same fields as event data: structural only, so stored events stay valid when a limit changes. */
  stored: TSchema;
  /**
   * The contract's `…Input`: the writable fields as a client sends them, metadata included. A
   * PUT body must satisfy it, and so must a patched resource, so a patch cannot set what a PUT
   * could not (a null the contract does not allow, a key it refuses).
   */
  input: TObject;
  /** The members the contract requires of an input; every resource shows them. */
  required: readonly string[];
  /** A request body that passed the route's schema → the fields to store (TMI's defaults filled in, metadata left out). */
  fromInput(input: Record<string, unknown>): F;
  /** Rules the schema cannot express (an edge must connect nodes of the same diagram); throws a DomainError. */
  check?(fields: F): void;
  /**
   * Events of the kind's own beyond the lifecycle (a diagram's realtime cell operations): each is
   * a pure change of the fields, applied alike by the evolver and the projector, and carries
   * `modified_at`.
   */
  fieldEvents?: { definitions: EventDefinition[]; apply(fields: F, event: { type: string; data: unknown }): F };
  /** The role on the parent threat model a delete needs (TMI: owner for diagrams, writer for the rest). */
  deleteRole: Role;
  /** Most metadata entries one resource holds. */
  maxMetadata: number;
}

export const childStreamId = (kind: ChildKind, id: string): string => `${kind}-${id}`;

export const childEventTypes = (label: string) => ({
  created: `${label}Created`,
  changed: `${label}Changed`,
  deleted: `${label}Deleted`,
  restored: `${label}Restored`,
});
