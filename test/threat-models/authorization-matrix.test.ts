import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { accessList, answered, expectedStatus, PERSONAS, signInCallers, tokenOf, type Callers, type Min, type Persona } from '../helpers/personas.js';

/**
 * Every threat model route × every kind of caller → the status TMI's rules give (contract
 * `x-tmi-authz`: the minimum role on the threat model). As TMI: no token is 401 before
 * anything else; an existing threat model out of the caller's reach — no role at all, or too
 * low a role — is 403; one that does not exist or is deleted is 404.
 */
interface Route {
  method: string;
  path: string;
  min: Min;
  success: number;
  body?: unknown;
  /** Runs before the call (as the owner), e.g. deleting the threat model before restore. */
  prepare?: (id: string) => Promise<void>;
}

describe('authorization matrix for threat model routes', () => {
  let app: TestApp;
  let who: Callers;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    who = signInCallers(app);
  });
  afterAll(async () => { await app?.stop(); });

  async function threatModelFor(persona: Persona): Promise<string> {
    const res = await app.request('/threat_models', { method: 'POST', token: who.owner.token, json: { name: `Matrix ${persona}`, authorization: accessList(who, persona), metadata: [{ key: 'seed', value: 's' }] } });
    expect(res.status).toBe(201);
    return (await json(res)).id;
  }

  const routes: Route[] = [
    { method: 'GET', path: '/threat_models', min: 'none', success: 200 },
    { method: 'POST', path: '/threat_models', min: 'none', success: 201, body: { name: 'Mine' } },
    { method: 'GET', path: '/threat_models/{id}', min: 'reader', success: 200 },
    { method: 'PUT', path: '/threat_models/{id}', min: 'writer', success: 200, body: { name: 'Renamed' } },
    { method: 'PATCH', path: '/threat_models/{id}', min: 'writer', success: 200, body: [{ op: 'replace', path: '/description', value: 'patched' }] },
    { method: 'DELETE', path: '/threat_models/{id}', min: 'owner', success: 204 },
    {
      method: 'POST', path: '/threat_models/{id}/restore', min: 'owner', success: 200,
      prepare: async (id) => { expect((await app.request(`/threat_models/${id}`, { method: 'DELETE', token: who.owner.token })).status).toBe(204); },
    },
    { method: 'GET', path: '/threat_models/{id}/metadata', min: 'reader', success: 200 },
    { method: 'POST', path: '/threat_models/{id}/metadata', min: 'writer', success: 201, body: { key: 'new', value: 'v' } },
    { method: 'GET', path: '/threat_models/{id}/metadata/seed', min: 'reader', success: 200 },
    { method: 'PUT', path: '/threat_models/{id}/metadata/seed', min: 'writer', success: 200, body: { value: 'changed' } },
    { method: 'DELETE', path: '/threat_models/{id}/metadata/seed', min: 'writer', success: 204 },
    { method: 'POST', path: '/threat_models/{id}/metadata/bulk', min: 'writer', success: 201, body: [{ key: 'b1', value: 'v' }] },
    { method: 'PUT', path: '/threat_models/{id}/metadata/bulk', min: 'writer', success: 200, body: [{ key: 'b2', value: 'v' }] },
    { method: 'PATCH', path: '/threat_models/{id}/metadata/bulk', min: 'writer', success: 200, body: [{ key: 'seed', value: 'v2' }] },
    { method: 'GET', path: '/threat_models/{id}/audit_trail', min: 'reader', success: 200 },
    { method: 'GET', path: '/threat_models/{id}/audit_trail/{entry}', min: 'reader', success: 200 },
    { method: 'POST', path: '/threat_models/{id}/audit_trail/{entry}/rollback', min: 'owner', success: 200 },
  ];

  /** The threat model's newest audit entry, once the trail shows the threat model's last event. */
  async function newestEntry(id: string): Promise<string> {
    const { rows } = await app.runtime.services.database.pool.query<{ p: string }>('select max(position) as p from events where stream_id = $1', [`threat_model-${id}`]);
    const res = await app.request(`/threat_models/${id}/audit_trail?limit=1`, { token: who.owner.token, headers: { 'x-min-position': rows[0]!.p } });
    return (await json(res)).audit_entries[0].id;
  }
  const UNKNOWN_ENTRY = '0190a000-0000-7000-8000-00000000beef';

  it.each(routes.map((r) => [`${r.method} ${r.path}`, r] as const))('%s', async (_label, route) => {
    const results = await Promise.all(PERSONAS.map(async (persona) => {
      const id = await threatModelFor(persona);
      await route.prepare?.(id);
      const entry = route.path.includes('{entry}') ? await newestEntry(id) : '';
      const res = await app.request(route.path.replace('{id}', id).replace('{entry}', entry), { method: route.method, token: tokenOf(who, persona), json: route.body });
      return [persona, await answered(res)] as const;
    }));
    expect(Object.fromEntries(results)).toEqual(Object.fromEntries(PERSONAS.map((p) => [p, expectedStatus(p, route.min, route.success)])));
  });

  const byId = routes.filter((r) => r.path.includes('{id}'));
  it.each(byId.map((r) => [`${r.method} ${r.path}`, r] as const))('%s: unknown → 404, deleted → 404 (restore: the owner restores, others 403), no token → 401', async (_label, route) => {
    const unknown = '0190a000-0000-7000-8000-00000000dead';
    const deleted = await threatModelFor('no_access');
    expect((await app.request(`/threat_models/${deleted}`, { method: 'DELETE', token: who.owner.token })).status).toBe(204);
    const call = async (id: string, token?: string) => {
      return answered(await app.request(route.path.replace('{id}', id).replace('{entry}', UNKNOWN_ENTRY), { method: route.method, token, json: route.body }));
    };
    const restore = route.path.endsWith('/restore');
    expect({
      unknown: { owner: await call(unknown, who.owner.token), no_access: await call(unknown, who.no_access.token), anonymous: await call(unknown) },
      deleted: { no_access: await call(deleted, who.no_access.token), reader: await call(deleted, who.reader.token), anonymous: await call(deleted), owner: await call(deleted, who.owner.token) },
    }).toEqual({
      unknown: { owner: 404, no_access: 404, anonymous: 401 },
      deleted: { no_access: restore ? 403 : 404, reader: restore ? 403 : 404, anonymous: 401, owner: restore ? route.success : 404 },
    });
  });
});
