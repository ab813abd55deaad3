import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Services } from '../services.js';
import { errorHandlerPlugin } from './plugins/error-handler.js';
import { metricsPlugin } from './plugins/metrics.js';
import { shutdownPlugin } from './plugins/shutdown.js';
import { probeRoutes } from './routes/service-info.js';

/**
 * The `worker`'s HTTP listener: only what operations poll — `/metrics` (the registry this process
 * records into: the retention runs its workers took, its queues, its runtime) and `/healthz` and
 * `/readyz` — from the same plugins `serve` registers, so both answer alike (the shutdown's drain included). No API, no auth:
 * these routes are public on `serve` too.
 */
export async function buildOperationsApp(services: Services): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.log as unknown as FastifyBaseLogger,
    // As on `serve`: shutdownPlugin refuses a request meeting the close with the contract's error body.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });
  await app.register(errorHandlerPlugin);
  await app.register(shutdownPlugin);
  await app.register(metricsPlugin, { services });
  await app.register(probeRoutes, { services });
  return app;
}
