import { Type, type Static } from '@sinclair/typebox';
import { childAggregate } from '../child-resources/index.js';
import { OneOf, ReportFlags, defineChildResource, orNull, reportFlags } from '../child-resources/fields.js';
import { ChildDescription, ChildName, Label, Nullable } from '../child-resources/values.js';

export const ASSET_TYPES = ['data', 'hardware', 'software', 'infrastructure', 'service', 'personnel'] as const;

/** An asset's writable fields (TMI's AssetBase), as stored: `name` and `type` are required, absent members are null. */
export const AssetFields = Type.Object({
  name: ChildName,
  description: Nullable(ChildDescription),
  type: OneOf(ASSET_TYPES),
  criticality: Nullable(Label(128)),
  classification: Nullable(Type.Array(Label(128), { maxItems: 50 })),
  sensitivity: Nullable(Label(128)),
  ...ReportFlags,
}, { additionalProperties: false });
export type AssetFields = Static<typeof AssetFields>;

export const assetResource = defineChildResource('asset', 'assets', AssetFields, { required: ['name', 'type'] }, (i) => ({
  name: i.name!,
  description: orNull(i.description),
  type: i.type!,
  criticality: orNull(i.criticality),
  // The contract lets the tags be null; an empty list stays empty (TMI returns what it was given).
  classification: orNull(i.classification),
  sensitivity: orNull(i.sensitivity),
  ...reportFlags(i),
}));

export const assets = childAggregate(assetResource);
