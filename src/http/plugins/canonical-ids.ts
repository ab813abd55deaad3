import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { UUID_PATTERN } from '../../commands/threat-models/values.js';

const EXACT_UUID = new RegExp(UUID_PATTERN);
/** A UUID anywhere in a value (a comma-separated list of them). */
const UUID = new RegExp(UUID_PATTERN.slice(1, -1), 'g');

/**
 * A UUID as the service keys it: lower case. The contract lets a client write one in either
 * case, PostgreSQL's uuid columns agree, but stream ids and metadata keys are text: without one
 * spelling an upper-case id found the read row and missed its stream (404 on write), and a bulk
 * PUT could create the same child twice.
 */
export const canonicalId = (id: string): string => (EXACT_UUID.test(id) ? id.toLowerCase() : id);

const lowerUuids = (value: string) => value.replace(UUID, (m) => m.toLowerCase());

/** Path parameters that hold ids: `threat_model_id`, `diagram_id`, … */
const pathIds = (name: string) => name.endsWith('_id');
/**
 * Query parameters that name the service's own resources: a bulk delete's `threat_ids`, a
 * ticket's `session_id`. Not every `…_id` is one (an OAuth `client_id` is the client's to spell).
 */
const queryIds = (name: string) => name.endsWith('_ids') || name === 'session_id';

function canonicalize(values: unknown, holdsIds: (name: string) => boolean): void {
  if (!values || typeof values !== 'object') return;
  const record = values as Record<string, unknown>;
  for (const [name, value] of Object.entries(record)) {
    if (!holdsIds(name)) continue;
    if (typeof value === 'string') record[name] = lowerUuids(value);
    else if (Array.isArray(value)) record[name] = value.map((v) => (typeof v === 'string' ? lowerUuids(v) : v));
  }
}

/** Ids in paths and query strings in their canonical case, before any route or guard reads them. */
export const canonicalIdsPlugin = fp(async (app: FastifyInstance) => {
  app.addHook('preValidation', async (request: FastifyRequest) => {
    canonicalize(request.params, pathIds);
    canonicalize(request.query, queryIds);
  });
});
