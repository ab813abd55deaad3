import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** Response headers a browser client reads: concurrency, read-your-writes, tracing, throttling, idempotency. */
const EXPOSED_HEADERS = ['ETag', 'X-Event-Position', 'X-Request-ID', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After', 'Warning', 'Idempotent-Replayed', 'X-As-Of-Position'];
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'If-Match', 'Prefer', 'Idempotency-Key', 'X-Command-ID', 'X-Min-Position', 'X-Request-ID'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** Browsers send `Origin` as scheme://host[:port]; a configured `http://localhost:4200/` means the same. */
function originOf(configured: string): string {
  try {
    return new URL(configured).origin;
  } catch {
    return configured;
  }
}

/**
 * CORS for the configured origins only: credentials for a listed origin, and `*` (without
 * credentials, which browsers refuse with a wildcard) only when configured explicitly. With no
 * origins configured the plugin is not registered, so no response carries CORS headers.
 *
 * Preflights are answered in the plugin's global onRequest hook, so register it before
 * authentication: a preflight carries no credentials, and it must not reach the per-route
 * rate limit either (it would spend the budget of the request it precedes).
 */
export const corsPlugin = fp(async (app: FastifyInstance, { origins }: { origins: readonly string[] }) => {
  if (origins.length === 0) return;
  const listed = new Set(origins.filter((o) => o !== '*').map(originOf));
  const wildcard = origins.includes('*');
  const common = { methods: METHODS, allowedHeaders: ALLOWED_HEADERS, exposedHeaders: EXPOSED_HEADERS, maxAge: 600 };
  await app.register(cors, {
    delegator: (request, callback) => {
      const origin = request.headers.origin;
      const options: FastifyCorsOptions = origin && listed.has(origin) ? { ...common, origin, credentials: true }
        : wildcard ? { ...common, origin: '*' }
          : { origin: false };
      callback(null, options);
    },
  });
}, { name: 'cors' });
