import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { EventDefinition } from '../../events/catalog.js';
import type { MetadataEvent } from '../metadata/events.js';
import { childEventTypes, type ChildResource } from './definition.js';

/**
 * The lifecycle events every child resource has, named after it (`ThreatCreated`, …). Each
 * carries its parent's id, so the parent's counts and cascades need nothing but the event.
 * The fields are always carried whole, so a reader never merges partial updates.
 */
const Ref = { threat_model_id: Type.String(), id: Type.String() };

export const childEventSchemas = (stored: TSchema) => ({
  created: Type.Object({ ...Ref, alias: Type.Integer(), fields: stored, auto_generated: Type.Boolean(), created_at: Type.String() }),
  changed: Type.Object({ ...Ref, fields: stored, modified_at: Type.String() }),
  deleted: Type.Object({ ...Ref, deleted_at: Type.String() }),
  restored: Type.Object({ ...Ref, restored_at: Type.String() }),
});

type Schemas = ReturnType<typeof childEventSchemas>;
type WithFields<T, F> = Omit<T, 'fields'> & { fields: F };

export type ChildCreated<F> = WithFields<Static<Schemas['created']>, F>;
export type ChildChanged<F> = WithFields<Static<Schemas['changed']>, F>;
export type ChildDeleted = Static<Schemas['deleted']>;
export type ChildRestored = Static<Schemas['restored']>;

export function childEventDefinitions<F extends object>(resource: Pick<ChildResource<F>, 'label' | 'stored' | 'fieldEvents'>): EventDefinition[] {
  const types = childEventTypes(resource.label);
  const schemas = childEventSchemas(resource.stored);
  return [
    { type: types.created, version: 1, schema: schemas.created },
    { type: types.changed, version: 1, schema: schemas.changed },
    { type: types.deleted, version: 1, schema: schemas.deleted },
    { type: types.restored, version: 1, schema: schemas.restored },
    ...(resource.fieldEvents?.definitions ?? []),
  ];
}

/** What a child's stream holds: its lifecycle events (named after its kind) and the shared metadata events. */
export type ChildEvent = { type: string; data: unknown } | MetadataEvent;
