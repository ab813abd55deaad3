import { Type, type Static } from '@sinclair/typebox';
import { invalid } from '../errors.js';
import { childAggregate } from '../child-resources/index.js';
import { ReportFlags, defineChildResource, orNull, reportFlags } from '../child-resources/fields.js';
import { ChildDescription, ChildName, ExternalUri, Nullable } from '../child-resources/values.js';

/** A document's writable fields (TMI's DocumentBase), as stored: every member present, absent ones null. */
export const DocumentFields = Type.Object({
  name: ChildName,
  description: Nullable(ChildDescription),
  uri: ExternalUri,
  ...ReportFlags,
}, { additionalProperties: false });
export type DocumentFields = Static<typeof DocumentFields>;

/** TMI's PickerRegistration: accepted as the contract has it, refused below (no content providers here). */
const PickerRegistration = Type.Object({
  provider_id: Type.Union([Type.Literal('google_workspace'), Type.Literal('microsoft')]),
  file_id: Type.String({ minLength: 1, maxLength: 255 }),
  mime_type: Type.String({ minLength: 1, maxLength: 128 }),
}, { additionalProperties: false });

export const documentResource = defineChildResource('document', 'documents', DocumentFields, {
  required: ['name', 'uri'],
  // The contract's `nullable` beside its `allOf` does not admit null: a registration or none.
  members: { picker_registration: Type.Optional(PickerRegistration) },
}, (i) => {
  // A picker registration hands the document to a content provider (Google Drive, OneDrive)
  // that fetches it and tracks access; this service has none, so it cannot keep the promise.
  if (i.picker_registration !== undefined && i.picker_registration !== null) {
    throw invalid('picker_registration needs a content provider, and none is configured: attach the document by its uri alone');
  }
  return { name: i.name!, description: orNull(i.description), uri: i.uri!, ...reportFlags(i) };
});

export const documents = childAggregate(documentResource);
