import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { projections } from '../../projections/registry.js';
import { haltedProjections, type HaltedProjection } from '../../projections/status.js';
import type { Services } from '../../services.js';
import { PUBLIC_ROUTE } from '../plugins/authentication.js';

export const API_VERSION = '1.8.22';

const ComponentHealth = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy'), Type.Literal('unknown')]),
  latency_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000 })),
  message: Type.Optional(Type.String({ maxLength: 256 })),
}, { additionalProperties: false });

const ApiInfo = Type.Object({
  status: Type.Object({ code: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('error')]), time: Type.String() }),
  service: Type.Object({ name: Type.String(), build: Type.String() }),
  api: Type.Object({ version: Type.String(), specification: Type.String() }),
  operator: Type.Optional(Type.Object({ name: Type.String(), contact: Type.String() })),
  health: Type.Optional(Type.Object({ database: Type.Optional(ComponentHealth), redis: Type.Optional(ComponentHealth) })),
});

const ClientConfig = Type.Object({
  features: Type.Object({
    websocket_enabled: Type.Boolean(), saml_enabled: Type.Boolean(), webhooks_enabled: Type.Boolean(), timmy_enabled: Type.Boolean(),
  }),
  limits: Type.Object({ max_file_upload_mb: Type.Integer(), max_diagram_participants: Type.Integer() }),
  ui: Type.Object({ default_theme: Type.Union([Type.Literal('auto'), Type.Literal('light'), Type.Literal('dark')]) }),
  content_providers: Type.Array(Type.Unknown()),
});

type Health = { status: 'healthy' | 'unhealthy' | 'unknown'; latency_ms?: number; message?: string };

async function timed(check: () => Promise<unknown>): Promise<Health> {
  const started = performance.now();
  try {
    await Promise.race([check(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 2000).unref())]);
    return { status: 'healthy', latency_ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { status: 'unhealthy', latency_ms: Math.min(10000, Math.round(performance.now() - started)), message: (err as Error).message.replace(/[\x00-\x1F]/g, ' ').slice(0, 256) };
  }
}

export async function componentHealth(services: Services): Promise<{ database: Health; redis: Health }> {
  const [database, redis] = await Promise.all([
    timed(() => services.database.pool.query('select 1')),
    services.redis ? timed(() => services.redis!.ping()) : Promise.resolve<Health>({ status: 'unknown', message: 'not configured: queues run on PostgreSQL' }),
  ]);
  return { database, redis };
}

/** Projections halted on a poison event; empty when the database cannot say (its health says why). */
async function halted(services: Services, database: Health): Promise<HaltedProjection[]> {
  if (database.status !== 'healthy') return [];
  return haltedProjections(services.database.pool, projections).catch(() => []);
}

/** `GET /` (TMI's ApiInfo) and `GET /config` (ClientConfig). */
export const serviceInfoRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/', { config: PUBLIC_ROUTE, schema: { tags: ['General'], response: { 200: ApiInfo } } }, async () => {
    const health = await componentHealth(services);
    const stopped = await halted(services, health.database);
    if (stopped.length > 0) {
      // ApiInfo has no place for projections; they live in the database, whose message names them.
      health.database.message = `projections halted on a poison event: ${stopped.map((p) => p.name).join(', ')}; see /admin/projections`.slice(0, 256);
    }
    const code: 'ok' | 'degraded' = health.database.status !== 'healthy' || health.redis.status === 'unhealthy' || stopped.length > 0 ? 'degraded' : 'ok';
    return {
      status: { code, time: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
      service: { name: services.build.name, build: services.build.version },
      api: { version: API_VERSION, specification: `${services.config.server.public_url.replace(/\/$/, '')}/openapi.json` },
      ...(code === 'degraded' ? { health } : {}),
    };
  });

  app.get('/config', { config: PUBLIC_ROUTE, schema: { tags: ['Configuration'], response: { 200: ClientConfig } } }, async (_request, reply) => {
    reply.header('Cache-Control', 'public, max-age=300');
    return {
      features: { websocket_enabled: true, saml_enabled: false, webhooks_enabled: false, timmy_enabled: false },
      limits: { max_file_upload_mb: Math.max(1, Math.min(100, Math.floor(services.config.server.body_limit_bytes / 1048576))), max_diagram_participants: 100 },
      ui: { default_theme: 'auto' as const },
      content_providers: [],
    };
  });
};

/**
 * Liveness and readiness probes, served by `serve` and by `worker`'s operations listener alike.
 *
 * A projection halted on a poison event makes the service degraded, not unready: its checkpoint
 * is shared by every instance, so a 503 from `/readyz` would take all of them out of the load
 * balancer together, while they still take commands (answered 202) and serve every other read.
 */
export const probeRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/healthz', { config: PUBLIC_ROUTE, schema: { hide: true } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: PUBLIC_ROUTE, schema: { hide: true } }, async (_request, reply) => {
    const health = await componentHealth(services);
    const ready = health.database.status === 'healthy';
    const stopped = await halted(services, health.database);
    const status = !ready ? 'not_ready' : stopped.length > 0 ? 'degraded' : 'ready';
    return reply.code(ready ? 200 : 503).send({ status, ...health, projections: { halted: stopped } });
  });
};
