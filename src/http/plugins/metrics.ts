import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Histogram } from 'prom-client';
import { registerProjectionMetrics } from '../../projections/metrics.js';
import { projections } from '../../projections/registry.js';
import type { Services } from '../../services.js';
import { PUBLIC_ROUTE } from './authentication.js';

/**
 * Prometheus metrics: request durations by route and status, the projections' gauges, plus whatever
 * other modules register. Every process that listens (`serve`, `worker`'s operations listener) has it.
 */
export const metricsPlugin = fp(async (app: FastifyInstance, { services }: { services: Services }) => {
  registerProjectionMetrics(services.metrics, services.database.pool, projections);
  const duration = new Histogram({
    name: 'tmi_http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [services.metrics],
  });
  app.addHook('onResponse', async (request, reply) => {
    duration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.get('/metrics', { config: PUBLIC_ROUTE, schema: { hide: true } }, async (_request, reply) => {
    reply.header('Cache-Control', 'no-store').type(services.metrics.contentType);
    return services.metrics.metrics();
  });
});
