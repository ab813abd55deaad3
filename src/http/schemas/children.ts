import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import { Metadata } from '../../commands/threat-models/values.js';
import { JsonPatchDocument } from './threat-models.js';

/**
 * Schema pieces every child resource's routes share: ids in the path, pagination, the members
 * the server adds to a child, and the bulk bodies — written once from the contract's
 * definitions (PaginationLimit/Offset, IncludeDeletedQueryParam, BulkPatchRequest, …).
 */
export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
export const Uuid = Type.String({ format: 'uuid', maxLength: 36 });
export const Timestamp = Type.String({ format: 'date-time', maxLength: 32 });

export const ChildParams = (idParam: string) => Type.Object({ threat_model_id: Uuid, [idParam]: Uuid });

export const ListQuery = {
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 }),
  include_deleted: Type.Boolean({ default: false }),
  min_position: Type.Optional(Type.Integer({ minimum: 0 })),
};

/** What the server adds to every child it returns. */
export const ServerMembers = {
  id: Uuid,
  alias: Type.Integer({ minimum: 1 }),
  metadata: Type.Array(Metadata),
  created_at: Timestamp,
  modified_at: Timestamp,
  deleted_at: Type.Optional(Timestamp),
  version: Type.Integer({ minimum: 1 }),
};

/** A bulk update item: the input with the id of the child it replaces (created when there is none). */
export const WithId = (input: TObject) => Type.Composite([input, Type.Object({ id: Uuid })], { additionalProperties: false });

export const BulkPatchRequest = Type.Object({
  patches: Type.Array(Type.Object({ id: Uuid, operations: JsonPatchDocument }, { additionalProperties: false }), { minItems: 1, maxItems: 20 }),
}, { additionalProperties: false });

export const BulkDeleteResponse = Type.Object({ deleted_count: Type.Integer({ minimum: 0 }), deleted_ids: Type.Array(Uuid) }, { additionalProperties: false });
