/**
 * An error that becomes an HTTP response with TMI's error body `{error, error_description}`.
 * Domain code throws its own errors; the HTTP layer maps them here.
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
    readonly details?: { code?: string; context?: Record<string, unknown>; suggestion?: string },
  ) {
    super(description);
    this.name = 'HttpError';
  }
}

export const badRequest = (description: string, error = 'invalid_input') => new HttpError(400, error, description);
/**
 * 401 with the contract's body. TMI's body says `unauthorized` for every missing, invalid,
 * expired or revoked bearer token; the RFC 6750 code (`invalid_token`) travels in
 * `WWW-Authenticate`. Other codes (`invalid_grant` of the refresh endpoint) are the body's too.
 */
export const unauthorized = (description = 'authentication required', error = 'unauthorized') =>
  new HttpError(401, error === 'invalid_token' ? 'unauthorized' : error, description,
    { 'WWW-Authenticate': `Bearer error="${error === 'unauthorized' ? 'invalid_token' : error}"` });
/** A bearer token that was presented but cannot be accepted (malformed, badly signed, expired, revoked, of a deleted user). */
export const invalidToken = (description: string) => unauthorized(description, 'invalid_token');
export const forbidden = (description = 'insufficient permissions') => new HttpError(403, 'forbidden', description);
export const notFound = (description = 'resource not found') => new HttpError(404, 'not_found', description);
export const conflict = (description: string, context?: Record<string, unknown>) =>
  new HttpError(409, 'conflict', description, {}, context ? { code: 'VERSION_CONFLICT', context } : undefined);

/** Control characters are not allowed in the contract's error strings. */
export const sanitizeErrorText = (s: string): string => s.replace(/[\x00-\x1F]+/g, ' ').slice(0, 1000);
