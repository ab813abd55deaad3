import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { EventDefinition } from '../../events/catalog.js';
import type { MetadataEvent } from '../metadata/events.js';

/**
 * Threat model events. Stored shapes are structural (the command side already enforced the
 * contract's limits): events are facts and must stay readable after a limit changes.
 */
const UserData = Type.Object({
  principal_type: Type.Literal('user'),
  provider: Type.String(),
  provider_id: Type.String(),
  display_name: Type.String(),
  email: Type.String(),
});
const AuthorizationData = Type.Object({
  principal_type: Type.Union([Type.Literal('user'), Type.Literal('group')]),
  provider: Type.String(),
  provider_id: Type.String(),
  display_name: Type.Optional(Type.String()),
  email: Type.Optional(Type.String()),
  role: Type.Union([Type.Literal('reader'), Type.Literal('writer'), Type.Literal('owner')]),
});
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** The descriptive fields, always carried whole so a reader never has to merge partial updates. */
const DetailsData = {
  name: Type.String(),
  description: Nullable(Type.String()),
  threat_model_framework: Type.String(),
  issue_uri: Nullable(Type.String()),
  project_id: Nullable(Type.String()),
  status: Type.String(),
  status_updated: Nullable(Type.String()),
  security_reviewer: Nullable(UserData),
};

export const ThreatModelCreatedData = Type.Object({
  threat_model_id: Type.String(),
  alias: Type.Integer(),
  ...DetailsData,
  is_confidential: Type.Boolean(),
  owner: UserData,
  created_by: UserData,
  authorization: Type.Array(AuthorizationData),
  created_at: Type.String(),
});
export const ThreatModelDetailsChangedData = Type.Object({
  threat_model_id: Type.String(),
  ...DetailsData,
  modified_at: Type.String(),
});
export const ThreatModelAccessChangedData = Type.Object({
  threat_model_id: Type.String(),
  owner: UserData,
  authorization: Type.Array(AuthorizationData),
  modified_at: Type.String(),
});
export const ThreatModelDeletedData = Type.Object({ threat_model_id: Type.String(), deleted_at: Type.String() });
export const ThreatModelRestoredData = Type.Object({ threat_model_id: Type.String(), restored_at: Type.String() });

export type ThreatModelCreatedData = Static<typeof ThreatModelCreatedData>;
export type ThreatModelDetailsChangedData = Static<typeof ThreatModelDetailsChangedData>;
export type ThreatModelAccessChangedData = Static<typeof ThreatModelAccessChangedData>;

export type ThreatModelEvent =
  | { type: 'ThreatModelCreated'; data: ThreatModelCreatedData }
  | { type: 'ThreatModelDetailsChanged'; data: ThreatModelDetailsChangedData }
  | { type: 'ThreatModelAccessChanged'; data: ThreatModelAccessChangedData }
  | { type: 'ThreatModelDeleted'; data: Static<typeof ThreatModelDeletedData> }
  | { type: 'ThreatModelRestored'; data: Static<typeof ThreatModelRestoredData> }
  | MetadataEvent;

export const THREAT_MODEL_STREAM_TYPE = 'threat_model';
export const threatModelStreamId = (id: string): string => `threat_model-${id}`;
/** The entity type metadata events use for threat models. */
export const THREAT_MODEL_ENTITY = 'threat_model';

/** Threat model event definitions for the catalog (metadata events are registered on their own). */
export const threatModelEventDefinitions: EventDefinition[] = [
  { type: 'ThreatModelCreated', version: 1, schema: ThreatModelCreatedData },
  { type: 'ThreatModelDetailsChanged', version: 1, schema: ThreatModelDetailsChangedData },
  { type: 'ThreatModelAccessChanged', version: 1, schema: ThreatModelAccessChangedData },
  { type: 'ThreatModelDeleted', version: 1, schema: ThreatModelDeletedData },
  { type: 'ThreatModelRestored', version: 1, schema: ThreatModelRestoredData },
];

/** The events that change who may do what under a threat model: a child's write relies on none of them happening after it read the access list. */
export const ACCESS_CHANGING_EVENT_TYPES = ['ThreatModelAccessChanged', 'ThreatModelDeleted'] as const;
