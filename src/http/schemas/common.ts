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

/**
 * An answer without a body (a 204, or the 202 a deletion answers before the read tables show
 * it): sent with `reply.send()`, so nothing is serialised; published with no content.
 */
export const NoBody = Type.Unsafe<undefined>({ type: 'null' });
