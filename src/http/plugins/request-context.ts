import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    traceId: string;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** Accepts a caller's X-Request-ID when it is sane, otherwise makes one. */
export function requestIdFrom(headers: Record<string, string | string[] | undefined>): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Request and trace ids on every request, response and log line; TMI's security headers on every response. */
export const requestContextPlugin = fp(async (app: FastifyInstance) => {
  app.decorateRequest('traceId', '');
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    const tp = request.headers.traceparent;
    const match = typeof tp === 'string' ? TRACEPARENT.exec(tp) : null;
    request.traceId = match?.[1] ?? randomBytes(16).toString('hex');
    request.log = request.log.child({ trace_id: request.traceId });
    reply.header('X-Request-ID', request.id);
    reply.headers({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'X-XSS-Protection': '0',
      'Referrer-Policy': 'strict-origin-when-cross-origin',
      'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    });
    if (request.protocol === 'https') reply.header('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  });
});
