import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { idempotencyKeyOf } from '../commands.js';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Refuses a write whose Idempotency-Key is ill-formed (400, the contract's error body) before
 * it reaches its route, whichever route: a key that can never replay is a client's bug, not a
 * request to write without one. After authentication, so an unknown caller still learns 401 first.
 */
export const idempotencyKeyPlugin = fp(async (app: FastifyInstance) => {
  app.addHook('preValidation', async (request) => {
    if (WRITES.has(request.method)) idempotencyKeyOf(request);
  });
});
