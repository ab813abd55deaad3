import type { FastifyRequest } from 'fastify';
import type { EventMetadata } from '../events/types.js';
import type { Principal } from './principal.js';

export interface Actor { user_id: string | null; email: string | null; provider: string | null; provider_id?: string | null; display_name?: string | null }

export const anonymous: Actor = { user_id: null, email: null, provider: null };

/**
 * Only who acted goes into event metadata, never the rest of a principal (groups, token id, expiry):
 * the ids and the name as they were then, which the audit trail shows (TMI's AuditActor).
 */
export const actorOf = (principal: Principal | null): Actor =>
  principal
    ? { user_id: principal.user_id, email: principal.email, provider: principal.provider, provider_id: principal.provider_id, display_name: principal.name }
    : anonymous;

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Event metadata for a fact a request caused, for commands and auth facts alike: who, and
 * which request and trace. A sane X-Correlation-ID from the caller ties the events of a
 * multi-request flow together; otherwise the request id stands in.
 */
export function metadataFor(request: FastifyRequest, actor: Actor): EventMetadata {
  const given = request.headers['x-correlation-id'];
  const correlation = Array.isArray(given) ? given[0] : given;
  return {
    actor,
    trace_id: request.traceId || null,
    correlation_id: correlation !== undefined && CORRELATION_ID.test(correlation) ? correlation : request.id,
    causation_id: null,
    request_id: request.id,
  };
}

/**
 * The caller's address as auth events record it (at most 100 characters): behind a trusted
 * proxy it is whatever the client put first in X-Forwarded-For.
 */
export const clientAddress = (request: FastifyRequest): string => request.ip.slice(0, 100);
