import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { DomainError } from '../../commands/errors.js';
import { CommandIdReusedError, TooManyEventsError, VersionConflictError } from '../../events/errors.js';
import { transientDatabaseError, type TransientDatabaseError } from '../../infra/database-errors.js';
import { RedisUnavailableError, isRedisUnreachable } from '../../infra/redis-errors.js';
import { HttpError, sanitizeErrorText } from '../errors.js';

interface ErrorBody {
  error: string;
  error_description: string;
  details?: { code?: string; context?: Record<string, unknown>; suggestion?: string };
}

// Fastify's own client errors, mapped to TMI's error codes.
const FASTIFY_CLIENT_ERRORS: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_input'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_input'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_input'],
  FST_ERR_CTP_INVALID_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_VALIDATION: [400, 'invalid_input'],
  FST_ERR_BAD_URL: [400, 'invalid_input'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'invalid_input'],
};

// Domain refusals (a decider's DomainError) by kind: status, TMI error code, detail code.
const DOMAIN_STATUS = {
  invalid: [400, 'invalid_input', 'VALIDATION_FAILED'],
  not_found: [404, 'not_found', 'NOT_FOUND'],
  forbidden: [403, 'forbidden', 'INSUFFICIENT_PERMISSIONS'],
  conflict: [409, 'conflict', 'CONFLICT'],
} as const;

// A transient database failure is the server's, not the request's: 503, come back after Retry-After.
const TRANSIENT: Record<TransientDatabaseError, { retryAfter: string; description: string }> = {
  unavailable: { retryAfter: '5', description: 'the database is unavailable; retry shortly' },
  conflict: { retryAfter: '1', description: 'the request kept colliding with concurrent writes; retry shortly' },
  busy: { retryAfter: '2', description: 'the database is busy; retry shortly' },
};

function send(reply: FastifyReply, status: number, body: ErrorBody, headers: Record<string, string> = {}) {
  reply.headers(headers);
  return reply.code(status).type('application/json; charset=utf-8').send({
    ...body,
    error: sanitizeErrorText(body.error),
    error_description: sanitizeErrorText(body.error_description),
  });
}

/** Only what must be shared and short-lived lives in Redis (OAuth state, one-time codes, lockout counters, BullMQ's jobs). */
function redisUnavailable(request: FastifyRequest, reply: FastifyReply, err: unknown) {
  request.log.warn({ err }, 'redis unavailable');
  return send(reply, 503, { error: 'service_unavailable', error_description: 'the queue and cache service (Redis) is unavailable; retry shortly' }, { 'Retry-After': '5' });
}

/** One place that turns every failure into the contract's error body. */
export const errorHandlerPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof HttpError) {
      if (err.statusCode >= 500) request.log.error({ err }, 'request failed');
      return send(reply, err.statusCode, { error: err.error, error_description: err.description, ...(err.details ? { details: err.details } : {}) }, err.headers);
    }
    if (err instanceof DomainError) {
      const [status, error, code] = DOMAIN_STATUS[err.kind];
      return send(reply, status, { error, error_description: err.message, ...(err.context ? { details: { code, context: err.context } } : {}) });
    }
    if (err instanceof VersionConflictError) {
      return send(reply, 409, {
        error: 'conflict',
        error_description: err.message,
        details: { code: 'VERSION_CONFLICT', context: { stream_id: err.stream_id, expected: err.expected, actual: err.actual } },
      });
    }
    if (err instanceof CommandIdReusedError) {
      return send(reply, 422, {
        error: 'unprocessable_entity',
        error_description: 'this Idempotency-Key was already used for a different request; use a new key for a new request',
        details: { code: 'IDEMPOTENCY_KEY_REUSED' },
      });
    }
    if (err instanceof TooManyEventsError) {
      // The request asks for more changes in one go than one append takes: too large, not malformed.
      return send(reply, 413, {
        error: 'payload_too_large',
        error_description: `the request would record ${err.count} changes at once; at most ${err.max} are allowed`,
        details: { code: 'TOO_MANY_CHANGES', context: { count: err.count, max: err.max } },
      });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      const where = fe.validationContext ?? 'body';
      const first = fe.validation[0];
      const path = first?.instancePath || (first?.params as { missingProperty?: string } | undefined)?.missingProperty || '';
      return send(reply, 400, { error: 'invalid_input', error_description: `${where}${path ? ` ${path}` : ''}: ${first?.message ?? fe.message}` });
    }
    const mapped = fe.code ? FASTIFY_CLIENT_ERRORS[fe.code] : undefined;
    if (mapped) return send(reply, mapped[0], { error: mapped[1], error_description: fe.message });
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return send(reply, fe.statusCode, { error: fe.statusCode === 429 ? 'rate_limit_exceeded' : 'invalid_request', error_description: fe.message });
    }
    // Before the database's classification: a Redis connection refused carries the same ECONNREFUSED.
    if (err instanceof RedisUnavailableError) return redisUnavailable(request, reply, err);
    const transient = transientDatabaseError(err);
    if (transient !== null) {
      request.log.warn({ err, transient }, 'transient database failure');
      return send(reply, 503, { error: 'service_unavailable', error_description: TRANSIENT[transient].description }, { 'Retry-After': TRANSIENT[transient].retryAfter });
    }
    // An ioredis refusal that did not pass through guardRedis (its messages are ioredis's own, never pg's).
    if (isRedisUnreachable(err)) return redisUnavailable(request, reply, err);
    request.log.error({ err }, 'unhandled error');
    return send(reply, 500, { error: 'server_error', error_description: 'an internal error occurred' });
  });

  app.setNotFoundHandler((request, reply) =>
    send(reply, 404, { error: 'not_found', error_description: `no route for ${request.method} ${request.url.split('?')[0]}` }));
});
