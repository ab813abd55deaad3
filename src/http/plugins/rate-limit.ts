import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Services } from '../../services.js';
import { HttpError } from '../errors.js';

type Category = 'auth' | 'user' | 'public';

// Probes and metrics are polled by infrastructure and must never be throttled.
const EXEMPT = new Set(['/healthz', '/readyz', '/metrics']);

function categoryOf(request: FastifyRequest): Category {
  if (request.url.startsWith('/oauth2/') && !request.url.startsWith('/oauth2/userinfo')) return 'auth';
  return request.principal ? 'user' : 'public';
}

/**
 * Per-IP limits on public and auth endpoints, per-user limits on the API. Counters live in
 * Redis when configured, so every instance shares them; in-process otherwise (embedded mode).
 */
export const rateLimitPlugin = fp(async (app: FastifyInstance, { services }: { services: Services }) => {
  const limits = services.config.rate_limit;
  if (!limits.enabled) return;
  const maxFor: Record<Category, number> = { auth: limits.auth_per_minute, user: limits.user_per_minute, public: limits.public_per_minute };
  const windowSeconds = Math.ceil(limits.window_ms / 1000);
  await app.register(rateLimit, {
    global: true,
    timeWindow: limits.window_ms,
    ...(services.redis ? { redis: services.redis, nameSpace: `${services.config.redis.prefix}:rl:` } : {}),
    // A Redis outage must not take the API down with it: while Redis refuses or times out (the shared
    // client fails fast, src/runtime.ts), requests pass unlimited rather than fail (docs/auth.md).
    skipOnError: true,
    allowList: (request) => EXEMPT.has(request.url.split('?')[0]!),
    keyGenerator: (request) => {
      const category = categoryOf(request);
      return category === 'user' ? `user:${request.principal!.user_id}` : `${category}:${request.ip}`;
    },
    max: (request) => maxFor[categoryOf(request)],
    errorResponseBuilder: (_request, context) => {
      const retryAfter = Math.max(1, Math.ceil(context.ttl / 1000));
      return new HttpError(429, 'rate_limit_exceeded', `Rate limit exceeded: ${context.max} requests per ${windowSeconds} seconds. Retry after ${retryAfter} seconds.`, {}, {
        code: 'RATE_LIMIT_EXCEEDED',
        context: { limit: context.max, window: windowSeconds === 60 ? 'minute' : `${windowSeconds}s`, retry_after: retryAfter },
      });
    },
  });
  // The plugin reports seconds until reset; TMI's contract wants the reset instant (Unix seconds).
  app.addHook('onSend', async (_request, reply, payload) => {
    const reset = reply.getHeader('x-ratelimit-reset');
    if (reset !== undefined) reply.header('x-ratelimit-reset', Math.floor(Date.now() / 1000) + Number(reset));
    return payload;
  });
}, { name: 'rate-limit', dependencies: ['authentication'] });
