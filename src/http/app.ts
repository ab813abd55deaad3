import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Services } from '../services.js';
import { ACCESS_TOKEN_COOKIE } from '../auth/cookies.js';
import { authModule } from '../auth/module.js';
import { PUBLIC_ROUTE, authenticationChecks, authenticationPlugin, markRoutesPublic } from './plugins/authentication.js';
import { corsPlugin } from './plugins/cors.js';
import { rateLimitPlugin } from './plugins/rate-limit.js';
import { mediaTypesPlugin } from './plugins/media-types.js';
import { errorHandlerPlugin } from './plugins/error-handler.js';
import { metricsPlugin } from './plugins/metrics.js';
import { canonicalIdsPlugin } from './plugins/canonical-ids.js';
import { requestContextPlugin, requestIdFrom } from './plugins/request-context.js';
import { shutdownPlugin } from './plugins/shutdown.js';
import { idempotencyKeyPlugin } from './plugins/idempotency-key.js';
import { routePlugins } from './routes/index.js';
import { realtimeOf } from '../realtime/index.js';
import { API_VERSION } from './routes/service-info.js';
import { validatorCompiler } from './validation.js';

/** Builds the HTTP + WebSocket application on the given services; listening is the caller's job. */
export async function buildApp(services: Services): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.log as unknown as FastifyBaseLogger,
    genReqId: (req) => requestIdFrom(req.headers),
    bodyLimit: services.config.server.body_limit_bytes,
    trustProxy: services.config.server.trust_proxy,
    // Requests meeting the close are refused by shutdownPlugin, with the contract's error body.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 500 },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);

  await app.register(errorHandlerPlugin);
  await app.register(requestContextPlugin);
  await app.register(canonicalIdsPlugin);
  await app.register(metricsPlugin, { services });
  await app.register(corsPlugin, { origins: services.config.server.cors_origins });
  // After CORS (a browser can read the refusal), before authentication, the rate limiter and the routes.
  await app.register(shutdownPlugin);
  // The revocation set is loaded before the first request is served and stops listening with the app.
  const { revocations } = authModule(services);
  app.addHook('onReady', () => revocations.start());
  app.addHook('onClose', () => revocations.stop());
  await app.register(authenticationPlugin, { tokens: services.tokens, checks: authenticationChecks(services), ...(services.config.auth.cookies ? { cookieName: ACCESS_TOKEN_COOKIE } : {}) });
  await app.register(rateLimitPlugin, { services });
  await app.register(idempotencyKeyPlugin);
  await app.register(formbody);
  await app.register(mediaTypesPlugin);
  await app.register(websocket, {
    options: { maxPayload: services.config.limits.websocket_max_message_bytes },
    // Instead of the plugin's own close of every client (no code): the hub lets operations in flight commit, then says 1001.
    preClose: async () => { await realtimeOf(services).hub.close(); },
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'TMI event-sourced server', version: API_VERSION, description: 'TMI-compatible threat modeling API built on an event store' },
      servers: [{ url: services.config.server.public_url }],
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  // The API documents are public, like TMI's own specification link in `GET /`.
  await app.register(async (docs) => {
    markRoutesPublic(docs);
    await docs.register(swaggerUi, { routePrefix: '/docs' });
  });
  app.get('/openapi.json', { config: PUBLIC_ROUTE, schema: { hide: true } }, async () => app.swagger());

  for (const plugin of routePlugins) await app.register(plugin, { services });
  return app;
}
