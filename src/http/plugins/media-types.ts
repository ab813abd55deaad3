import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HttpError } from '../errors.js';

/** The media type of a Content-Type header, without its parameters, lower case. */
const mediaTypeOf = (contentType: string): string => contentType.split(';')[0]!.trim().toLowerCase();

/**
 * A route whose schema lists `consumes` (what its published document gives as the request body's
 * media types, as the contract does for RFC 7662 introspection's form) takes a body in those
 * alone. Without this, a JSON body reached the route through Fastify's JSON parser and was
 * answered as if it were the form. Checked before the body is parsed, so a body in another
 * media type is refused for its type, not for its content. A request without a body is left to
 * the body's schema (which says whether one is required).
 */
export const mediaTypesPlugin = fp(async (app: FastifyInstance) => {
  app.addHook('preParsing', async (request: FastifyRequest) => {
    const consumes = request.routeOptions.schema?.consumes;
    const contentType = request.headers['content-type'];
    if (!consumes || contentType === undefined) return;
    const media = mediaTypeOf(contentType);
    if (!consumes.includes(media)) {
      throw new HttpError(415, 'unsupported_media_type', `this operation takes a body in ${consumes.join(' or ')}, not ${media || 'an empty media type'}`);
    }
  });
});
