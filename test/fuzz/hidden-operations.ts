import type { TestApp } from '../helpers/app.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const pathParam = (name: string, schema: Json) => ({ in: 'path', name, required: true, schema });
const json = (schema: Json = { type: 'object' }) => ({ content: { 'application/json': { schema } } });
const admin = (extra: Json = {}) => ({ responses: { 200: json() }, ...extra });
const deadLetter = { parameters: [pathParam('name', { type: 'string', maxLength: 100 }), pathParam('id', { type: 'integer', minimum: 1 })] };
const page = (type: string) => ({ content: { [type]: {} } });

/**
 * The routes the service serves but hides from /openapi.json (`schema: { hide: true }`): the
 * operators' routes and the console's page. Described here as OpenAPI operations, restating the
 * routes' own schemas (src/http/routes/admin-projections.ts, admin-events.ts, console.ts), so the
 * fuzzer walks them as it walks the published ones. None is TMI's: a success is judged by its
 * media type only. `security: []` marks the public ones (PUBLIC_ROUTE).
 */
export const HIDDEN_PATHS: Record<string, Json> = {
  '/admin/projections': { get: admin() },
  '/admin/projections/lag_history': { get: admin() },
  '/admin/projections/dead-letters': {
    get: admin({
      parameters: [
        { in: 'query', name: 'projection', schema: { type: 'string', maxLength: 100 } },
        { in: 'query', name: 'status', schema: { type: 'string', enum: ['pending', 'resolved', 'skipped'] } },
        { in: 'query', name: 'limit', required: true, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
      ],
    }),
  },
  '/admin/projections/{name}/dead-letters/{id}/retry': { post: admin(deadLetter) },
  '/admin/projections/{name}/dead-letters/{id}/skip': { post: admin(deadLetter) },
  '/admin/events/verify': { get: admin() },
  '/admin/events/head': { get: admin() },
  '/admin/collaboration_sessions': { get: admin() },
  '/console': { get: { security: [], responses: { 301: {} } } },
  '/console/': { get: { security: [], responses: { 200: page('text/html') } } },
  '/console/{asset}': {
    get: { security: [], parameters: [pathParam('asset', { type: 'string', maxLength: 50 })], responses: { 200: { content: { 'text/javascript': {}, 'text/css': {} } } } },
  },
};

/**
 * Routes neither published nor walked, and why: HEAD (Fastify's twin of every GET), the API
 * documentation UI and the document itself, probes and metrics (no user input), and the
 * WebSocket upgrades (their own fuzzing in test/collaboration).
 */
const NOT_WALKED: RegExp[] = [/^HEAD /, /^GET \/docs/, /^GET \/openapi\.json$/, /^GET \/(healthz|readyz|metrics)$/, /^GET .*\/ws$/];

/**
 * Every method and path of Fastify's route table (`printRoutes`, a radix tree whose lines each
 * add a segment to their parent's path), with `:name` written `{name}` as OpenAPI does.
 */
export function servedOperations(app: TestApp): string[] {
  const stack: string[] = [];
  const served: string[] = [];
  for (const line of app.runtime.app!.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([\s│]*)(?:[└├]── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack[depth] = (stack[depth - 1] ?? '') + m[2];
    for (const method of (m[3] ?? '').split(', ').filter(Boolean)) served.push(`${method} ${stack[depth]!.replace(/:(\w+)/g, '{$1}')}`);
  }
  return served;
}

/** Served operations that are neither in the published document nor listed above, nor excluded on purpose. */
export function unwalkedOperations(app: TestApp, published: Json): string[] {
  const walked = new Set([published.paths, HIDDEN_PATHS].flatMap((paths) => Object.entries(paths as Record<string, Json>)
    .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))));
  return servedOperations(app).filter((op) => !walked.has(op) && !NOT_WALKED.some((r) => r.test(op)));
}
