import { Type } from '@sinclair/typebox';

/** TMI's error body; every 4xx/5xx carries it. */
export const ErrorBody = Type.Object({
  error: Type.String({ maxLength: 1000 }),
  error_description: Type.String({ maxLength: 1000 }),
  error_uri: Type.Optional(Type.String({ maxLength: 1000 })),
  details: Type.Optional(Type.Union([Type.Null(), Type.Object({
    code: Type.Optional(Type.String({ maxLength: 512 })),
    context: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    suggestion: Type.Optional(Type.String({ maxLength: 1000 })),
  }, { additionalProperties: false })])),
}, { $id: 'Error', additionalProperties: false });
