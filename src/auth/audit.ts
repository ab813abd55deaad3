import type { FastifyRequest } from 'fastify';
import type { EventMetadata } from '../events/types.js';

export interface Actor { user_id: string | null; email: string | null; provider: string | null }

export const anonymous: Actor = { user_id: null, email: null, provider: null };

/** Event metadata for an auth fact: who, and which request and trace caused it. */
export function metadataFor(request: FastifyRequest | null, actor: Actor): EventMetadata {
  return {
    actor,
    trace_id: request?.traceId || null,
    correlation_id: request?.id ?? null,
    causation_id: null,
    request_id: request?.id ?? null,
  };
}
