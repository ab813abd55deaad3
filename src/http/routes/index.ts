import type { FastifyPluginAsync } from 'fastify';
import type { Services } from '../../services.js';
import { adminEventRoutes } from './admin-events.js';
import { adminProjectionRoutes } from './admin-projections.js';
import { auditTrailRoutes } from './audit-trail.js';
import { collaborationRoutes } from './collaboration.js';
import { consoleRoutes } from './console.js';
import { diagramSocketRoutes } from './diagram-socket.js';
import { historyRoutes } from './history.js';
import { childRoutePlugins } from '../children/index.js';
import { diagramModelRoutes } from '../children/diagram-model.js';
import { meRoutes } from './me.js';
import { oauthRoutes } from './oauth.js';
import { probeRoutes, serviceInfoRoutes } from './service-info.js';
import { threatModelMetadataRoutes } from './threat-model-metadata.js';
import { threatDashboardRoutes } from './threat-dashboard.js';
import { threatModelRoutes } from './threat-models.js';
import { wellKnownRoutes } from './well-known.js';

/** Every route module of the API; each is a Fastify plugin receiving the services. */
export const routePlugins: FastifyPluginAsync<{ services: Services }>[] = [
  serviceInfoRoutes,
  probeRoutes,
  adminProjectionRoutes,
  adminEventRoutes,
  oauthRoutes,
  wellKnownRoutes,
  meRoutes,
  threatModelRoutes,
  threatModelMetadataRoutes,
  ...childRoutePlugins,
  diagramModelRoutes,
  collaborationRoutes,
  diagramSocketRoutes,
  threatDashboardRoutes,
  historyRoutes,
  consoleRoutes,
  auditTrailRoutes,
];
