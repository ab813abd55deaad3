import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { groupEntry, signIn, userEntry, type Who } from './helpers.js';

/**
 * Every threat model route × every kind of caller → the status TMI's rules give (contract
 * `x-tmi-authz`: the minimum role on the threat model). As TMI: no token is 401 before
 * anything else; an existing threat model out of the caller's reach — no role at all, or too
 * low a role — is 403; one that does not exist or is deleted is 404.
 */
type Persona = 'anonymous' | 'no_access' | 'reader' | 'writer' | 'owner' | 'group_member' | 'everyone';
const PERSONAS: Persona[] = ['anonymous', 'no_access', 'reader', 'writer', 'owner', 'group_member', 'everyone'];

type Min = 'none' | 'reader' | 'writer' | 'owner';
/** What each persona holds on the threat model: group_member is in a group granted writer; everyone via the `everyone` group as reader. */
const HELD: Record<Persona, Min | null> = { anonymous: null, no_access: null, reader: 'reader', writer: 'writer', owner: 'owner', group_member: 'writer', everyone: 'reader' };
const RANK: Record<Min, number> = { none: 0, reader: 1, writer: 2, owner: 3 };

function expected(persona: Persona, min: Min, success: number): number {
  if (persona === 'anonymous') return 401;
  if (min === 'none') return success;
  const held = HELD[persona];
  return held !== null && RANK[held] >= RANK[min] ? success : 403;
}

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
  let who: Record<Exclude<Persona, 'anonymous'>, Who>;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    who = {
      owner: signIn(app, 'olivia'),
      reader: signIn(app, 'rachel'),
      writer: signIn(app, 'walter'),
      group_member: signIn(app, 'gina', { groups: ['editors'] }),
      no_access: signIn(app, 'nobody'),
      everyone: signIn(app, 'evan'),
    };
  });
  afterAll(async () => { await app?.stop(); });

  /** A threat model the owner shares with the reader, the writer and the editors group; the everyone persona's also grants `everyone` reader. */
  async function threatModelFor(persona: Persona): Promise<string> {
    const authorization = [userEntry(who.reader, 'reader'), userEntry(who.writer, 'writer'), groupEntry('editors', 'writer')];
    if (persona === 'everyone') authorization.push(groupEntry('everyone', 'reader'));
    const res = await app.request('/threat_models', { method: 'POST', token: who.owner.token, json: { name: `Matrix ${persona}`, authorization, metadata: [{ key: 'seed', value: 's' }] } });
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
  ];

  it.each(routes.map((r) => [`${r.method} ${r.path}`, r] as const))('%s', async (_label, route) => {
    const results = await Promise.all(PERSONAS.map(async (persona) => {
      const id = await threatModelFor(persona);
      await route.prepare?.(id);
      const token = persona === 'anonymous' ? undefined : who[persona].token;
      const res = await app.request(route.path.replace('{id}', id), { method: route.method, token, json: route.body });
      const body = res.status === 204 ? null : await json(res);
      if (res.status >= 400) expect(body).toEqual(expect.objectContaining({ error: expect.any(String), error_description: expect.any(String) }));
      return [persona, res.status] as const;
    }));
    expect(Object.fromEntries(results)).toEqual(Object.fromEntries(PERSONAS.map((p) => [p, expected(p, route.min, route.success)])));
  });

  const byId = routes.filter((r) => r.path.includes('{id}'));
  it.each(byId.map((r) => [`${r.method} ${r.path}`, r] as const))('%s: unknown → 404, deleted → 404 (restore: the owner restores, others 403), no token → 401', async (_label, route) => {
    const unknown = '0190a000-0000-7000-8000-00000000dead';
    const deleted = await threatModelFor('no_access');
    expect((await app.request(`/threat_models/${deleted}`, { method: 'DELETE', token: who.owner.token })).status).toBe(204);
    const call = async (id: string, token?: string) => {
      const res = await app.request(route.path.replace('{id}', id), { method: route.method, token, json: route.body });
      if (res.status >= 400) expect(await json(res)).toEqual(expect.objectContaining({ error: expect.any(String), error_description: expect.any(String) }));
      return res.status;
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
