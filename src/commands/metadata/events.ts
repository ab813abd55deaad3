import { Type, type Static } from '@sinclair/typebox';
import type { EventDefinition } from '../../events/catalog.js';

/**
 * Metadata events are shared by every entity that carries key/value metadata (threat models
 * now; threats, diagrams, documents... later). They are appended to the owning entity's
 * stream and name the entity, so one metadata projection serves them all.
 */
const EntityRef = {
  entity_type: Type.String({ minLength: 1 }),
  entity_id: Type.String({ minLength: 1 }),
};

export const MetadataEntriesSetData = Type.Object({
  ...EntityRef,
  entries: Type.Array(Type.Object({ key: Type.String({ minLength: 1 }), value: Type.String() })),
  at: Type.String(),
});
export type MetadataEntriesSetData = Static<typeof MetadataEntriesSetData>;

export const MetadataEntriesRemovedData = Type.Object({
  ...EntityRef,
  keys: Type.Array(Type.String({ minLength: 1 })),
  at: Type.String(),
});
export type MetadataEntriesRemovedData = Static<typeof MetadataEntriesRemovedData>;

export type MetadataEvent =
  | { type: 'MetadataEntriesSet'; data: MetadataEntriesSetData }
  | { type: 'MetadataEntriesRemoved'; data: MetadataEntriesRemovedData };

export const metadataEventDefinitions: EventDefinition[] = [
  { type: 'MetadataEntriesSet', version: 1, schema: MetadataEntriesSetData },
  { type: 'MetadataEntriesRemoved', version: 1, schema: MetadataEntriesRemovedData },
];

export const METADATA_EVENT_TYPES = metadataEventDefinitions.map((d) => d.type);
