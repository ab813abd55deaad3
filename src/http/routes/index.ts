import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '../../services.js';
import { adminProjectionRoutes } from './admin-projections.js';
import { serviceInfoRoutes } from './service-info.js';

/** Every route module of the API; each is a Fastify plugin receiving the services. */
export const routePlugins: FastifyPluginAsync<{ services: Services }>[] = [
  serviceInfoRoutes,
  adminProjectionRoutes,
];
