import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { allActiveSessions } from '../../queries/collaboration-sessions.js';
import type { Services } from '../../services.js';
import { requireAdmin } from '../admin-guard.js';
import { notFound } from '../errors.js';
import { PUBLIC_ROUTE } from '../plugins/authentication.js';

/** Where the console is served; also the OAuth callback its sign-in returns to. */
export const CONSOLE_PATH = '/console/';

const asset = (name: string) => readFileSync(new URL(`../../console/assets/${name}`, import.meta.url), 'utf8');
/** The page and its script and style hold no data: anyone may load them, every call they make is an administrator's. */
const ASSETS: Record<string, { type: string; body: string }> = {
  '': { type: 'text/html; charset=utf-8', body: asset('index.html') },
  'console.js': { type: 'text/javascript; charset=utf-8', body: asset('console.js') },
  'console.css': { type: 'text/css; charset=utf-8', body: asset('console.css') },
};
// The API's policy forbids everything; the page needs its own script, style and same-origin calls, nothing else.
const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const MAX_SESSIONS = 500;
/** How many of the latest events the console's feed starts with. */
const RECENT_EVENTS = 50;

/** The operator console: a page for administrators, and the two reads it needs beyond the existing admin and history routes. */
export const consoleRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/console', { config: PUBLIC_ROUTE, schema: { hide: true } }, async (_request, reply) => reply.redirect(CONSOLE_PATH, 301));
  const serve = (name: string, reply: FastifyReply) => {
    const found = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!found) throw notFound('no such console asset');
    return reply.header('Content-Security-Policy', CONSOLE_CSP).type(found.type).send(found.body);
  };
  app.get(CONSOLE_PATH, { config: PUBLIC_ROUTE, schema: { hide: true } }, async (_request, reply) => serve('', reply));
  app.get(`${CONSOLE_PATH}:asset`, {
    config: PUBLIC_ROUTE,
    schema: { hide: true, params: Type.Object({ asset: Type.String({ maxLength: 50 }) }) },
  }, async (request, reply) => serve(request.params.asset, reply));

  app.get('/admin/collaboration_sessions', { preHandler: requireAdmin, schema: { hide: true } },
    async () => ({ sessions: await allActiveSessions(services.database.pool, MAX_SESSIONS) }));

  // Positions are not dense (the global order leaves holes), so "the last N events" is a query, not a subtraction.
  app.get('/admin/events/head', { preHandler: requireAdmin, schema: { hide: true } }, async () => {
    const { rows } = await services.database.pool.query<{ head: string | null; recent_after: string | null }>(
      `select (select max(position) from events) as head,
              (select position from events order by position desc offset $1 limit 1) as recent_after`, [RECENT_EVENTS]);
    return { head_position: Number(rows[0]!.head ?? 0), recent_after: Number(rows[0]!.recent_after ?? 0) };
  });
};
