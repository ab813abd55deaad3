import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DeadLetterNotFoundError, ProjectionRunner, ProjectionVersionMismatchError } from '../../projections/runner.js';
import { projections } from '../../projections/registry.js';
import { listDeadLetters, projectionStatuses } from '../../projections/status.js';
import type { Services } from '../../services.js';
import { LagHistory } from '../../projections/lag-history.js';
import { requireAdmin } from '../admin-guard.js';
import { conflict, notFound } from '../errors.js';

/** Readings kept for the console's chart: an hour at the default interval. */
const LAG_READINGS_KEPT = 720;

const DeadLetterParams = Type.Object({ name: Type.String({ maxLength: 100 }), id: Type.Integer({ minimum: 1 }) });

/** Operators' view of the projections: status, lag, dead letters, and retry/skip. */
export const adminProjectionRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const runner = new ProjectionRunner(services.database.pool, services.store, services.log);
  const known = (name: string) => {
    const projection = projections.find((p) => p.name === name);
    if (!projection) throw notFound(`no projection named ${name}`);
    return projection;
  };
  // A missing dead letter is the caller's 404, a projection owned by another version (a rolling
  // deploy) a 409; anything else is a server error with no internals in the body.
  const orNotFound = (err: unknown): never => {
    if (err instanceof DeadLetterNotFoundError) throw notFound(err.message);
    if (err instanceof ProjectionVersionMismatchError) throw conflict(err.message);
    throw err;
  };

  const lag = new LagHistory(services.database.pool, projections, { intervalMs: services.config.server.console_lag_sample_ms, keep: LAG_READINGS_KEPT },
    (err) => services.log.warn({ err }, 'reading the projections\' lag for the console failed'));
  app.addHook('onClose', async () => { await lag.stop(); });

  // Readings start when someone first asks for them: an instance nobody watches does no work for the chart.
  app.get('/admin/projections/lag_history', { preHandler: requireAdmin, schema: { hide: true } }, async () => {
    await lag.start();
    return { interval_ms: services.config.server.console_lag_sample_ms, samples: lag.history() };
  });

  app.get('/admin/projections', { preHandler: requireAdmin, schema: { tags: ['Administration'], hide: true } },
    async () => ({ projections: await projectionStatuses(services.database.pool, projections) }));

  app.get('/admin/projections/dead-letters', {
    preHandler: requireAdmin,
    schema: { hide: true, querystring: Type.Object({
      projection: Type.Optional(Type.String({ maxLength: 100 })),
      status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('resolved'), Type.Literal('skipped')])),
      limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    }, { additionalProperties: false }) },
  }, async (request) => ({ dead_letters: await listDeadLetters(services.database.pool, request.query) }));

  app.post('/admin/projections/:name/dead-letters/:id/retry', { preHandler: requireAdmin, schema: { hide: true, params: DeadLetterParams } },
    async (request) => {
      const p = known(request.params.name);
      const result = await runner.retryDeadLetter(p, request.params.id).catch(orNotFound);
      if (result.ok) services.wakeups.wake([p.name]);
      return result;
    });

  app.post('/admin/projections/:name/dead-letters/:id/skip', { preHandler: requireAdmin, schema: { hide: true, params: DeadLetterParams } },
    async (request) => {
      const p = known(request.params.name);
      const result = await runner.skipDeadLetter(p, request.params.id).catch(orNotFound);
      services.wakeups.wake([p.name]);
      return result;
    });
};
