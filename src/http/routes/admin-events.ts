import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { verifyChain } from '../../events/verify-chain.js';
import type { Services } from '../../services.js';
import { requireAdmin } from '../admin-guard.js';

/** Operators' check of the event store's tamper evidence (src/events/chain.ts). */
export const adminEventRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  // Reads the whole store: an administrator's occasional audit, not a health probe. One run at a
  // time per instance: callers arriving while one runs get its report, so repeated clicks cannot
  // take every pooled connection (and a snapshot each) for minutes.
  let running: ReturnType<typeof verifyChain> | null = null;
  app.get('/admin/events/verify', { preHandler: requireAdmin, schema: { tags: ['Administration'], hide: true } }, async () => {
    running ??= verifyChain(services.database.pool).finally(() => { running = null; });
    return running;
  });
};
