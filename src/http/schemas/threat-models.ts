import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  Authorization, Description, Framework, IssueUri, MAX_AUTHORIZATION_ENTRIES, MAX_METADATA_ENTRIES, Metadata, MetadataKey,
  Name, User,
} from '../../commands/threat-models/values.js';

/**
 * Request and response schemas of the threat model routes, written from the TMI contract's
 * ThreatModel, ThreatModelInput, Authorization, User, Metadata, TMListItem and
 * ListThreatModelsResponse definitions (the field limits live in the domain's values module).
 */
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Timestamp = Type.String({ format: 'date-time', maxLength: 32 });
const Count = Type.Integer({ minimum: 0 });

export { Authorization, Metadata, User };

export const ThreatModelId = Type.Object({ threat_model_id: Type.String({ format: 'uuid', maxLength: 36 }) });
export const MetadataKeyParams = Type.Object({ threat_model_id: Type.String({ format: 'uuid', maxLength: 36 }), key: MetadataKey });

export const ThreatModelInput = Type.Object({
  name: Name,
  description: Type.Optional(Nullable(Description)),
  threat_model_framework: Type.Optional(Nullable(Framework)),
  authorization: Type.Optional(Type.Array(Authorization, { maxItems: MAX_AUTHORIZATION_ENTRIES })),
  metadata: Type.Optional(Nullable(Type.Array(Metadata, { maxItems: MAX_METADATA_ENTRIES }))),
  issue_uri: Type.Optional(Nullable(IssueUri)),
  is_confidential: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
export type ThreatModelInput = Static<typeof ThreatModelInput>;

export const JsonPatchDocument = Type.Array(Type.Object({
  op: Type.Union([Type.Literal('add'), Type.Literal('remove'), Type.Literal('replace'), Type.Literal('move'), Type.Literal('copy'), Type.Literal('test')]),
  path: Type.String({ maxLength: 512, pattern: '^(/[^/]*)*$' }),
  value: Type.Optional(Type.Unknown()),
}, { additionalProperties: false }), { maxItems: 1000 });

export const ThreatModel = Type.Object({
  id: Type.String({ format: 'uuid' }),
  alias: Type.Integer({ minimum: 1 }),
  name: Type.String(),
  description: Type.Optional(Type.String()),
  owner: User,
  created_by: User,
  threat_model_framework: Type.String(),
  authorization: Type.Array(Authorization),
  metadata: Type.Array(Metadata),
  issue_uri: Type.Optional(Type.String()),
  status: Type.String(),
  status_updated: Type.Optional(Timestamp),
  security_reviewer: Type.Optional(Nullable(User)),
  project_id: Type.Optional(Type.String()),
  is_confidential: Type.Boolean(),
  created_at: Timestamp,
  modified_at: Timestamp,
  deleted_at: Type.Optional(Timestamp),
  version: Type.Integer({ minimum: 1 }),
});

export const TMListItem = Type.Object({
  id: Type.String({ format: 'uuid' }),
  alias: Type.Integer({ minimum: 1 }),
  name: Type.String(),
  description: Type.Optional(Type.String()),
  created_at: Timestamp,
  modified_at: Timestamp,
  owner: User,
  created_by: User,
  threat_model_framework: Type.String(),
  document_count: Count,
  repo_count: Count,
  diagram_count: Count,
  threat_count: Count,
  asset_count: Count,
  note_count: Count,
  issue_uri: Type.Optional(Type.String()),
  status: Type.Optional(Type.String()),
  status_updated: Type.Optional(Timestamp),
  security_reviewer: Type.Optional(Nullable(User)),
  deleted_at: Type.Optional(Timestamp),
});

export const ListThreatModelsResponse = Type.Object({
  threat_models: Type.Array(TMListItem),
  total: Type.Integer({ minimum: 0 }),
  limit: Type.Integer(),
  offset: Type.Integer(),
});

const Filter = (maxLength: number) => Type.String({ maxLength, pattern: '^[^\\x00-\\x1F]*$' });
export const ListThreatModelsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 }),
  owner: Type.Optional(Filter(256)),
  name: Type.Optional(Filter(256)),
  description: Type.Optional(Filter(1000)),
  issue_uri: Type.Optional(Filter(1000)),
  created_after: Type.Optional(Type.String({ format: 'date-time' })),
  created_before: Type.Optional(Type.String({ format: 'date-time' })),
  modified_after: Type.Optional(Type.String({ format: 'date-time' })),
  modified_before: Type.Optional(Type.String({ format: 'date-time' })),
  status: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 50 })),
  status_updated_after: Type.Optional(Type.String({ format: 'date-time', maxLength: 64 })),
  status_updated_before: Type.Optional(Type.String({ format: 'date-time', maxLength: 64 })),
  include_deleted: Type.Optional(Type.Boolean({ default: false })),
  security_reviewer: Type.Optional(Filter(256)),
  min_position: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type ListThreatModelsQuery = Static<typeof ListThreatModelsQuery>;

export const MinPositionQuery = Type.Object({ min_position: Type.Optional(Type.Integer({ minimum: 0 })) });

/** PUT `…/metadata/{key}`'s body for most kinds: the value alone, at most 1000 characters (the contract's; 1024 for diagrams). */
export const metadataValueInput = (maxLength = 1000) => Type.Object({
  value: Type.String({ minLength: 1, maxLength, pattern: '^[^\\x00-\\x1F]*$' }),
}, { additionalProperties: false });
export const MetadataBulkInput = Type.Array(Metadata, { maxItems: 20 });
export const MetadataList = Type.Array(Metadata);
