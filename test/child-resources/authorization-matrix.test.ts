import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metadataReplacement, requiredRole } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { accessList, answered, expectedStatus, PERSONAS, signInCallers, tokenOf, type Callers, type Persona } from '../helpers/personas.js';
import { eventCount } from '../threat-models/helpers.js';
import { KIND_SPECS } from './kinds.js';
import type { KindSpec } from './suite.js';

/**
 * Every route of every kind of child resource × every kind of caller → the status the contract's
 * `x-tmi-authz` gives (the minimum role on the parent threat model, read from the contract so a
 * kind with its own rule — diagrams' owner-only DELETE — needs no entry here), with the rules of
 * the threat model matrix: no token 401, too low a role or none 403. A refusal carries the
 * contract's Error body and appends no event; an allowed call answers the contract's status.
 */

/** The child a call addresses: none (the collection), a live one, or a deleted one (restore). */
type Target = 'none' | 'live' | 'deleted';

interface Route {
  method: string;
  /** The contract's path template. */
  template: string;
  success: number;
  target: Target;
  /** The request path from the collection's path and the child's id. */
  path(collection: string, child: string): string;
  body?(child: string): RequestInit & { json?: unknown };
}

const SEED = [{ key: 'seed', value: 's' }];

function routesOf(spec: KindSpec): Route[] {
  const C = `/threat_models/{threat_model_id}/${spec.plural}`;
  const I = `${C}/{${spec.idParam}}`;
  const M = `${I}/metadata`;
  const collection = (c: string) => c;
  const item = (suffix = '') => (c: string, id: string) => `${c}/${id}${suffix}`;
  const sends = (body: unknown) => () => ({ json: body });
  const routes: Route[] = [
    { method: 'GET', template: C, success: 200, target: 'none', path: collection },
    { method: 'POST', template: C, success: 201, target: 'none', path: collection, body: sends(spec.valid) },
    { method: 'GET', template: I, success: 200, target: 'live', path: item() },
    { method: 'PUT', template: I, success: 200, target: 'live', path: item(), body: sends(spec.replacement) },
    {
      method: 'PATCH', template: I, success: 200, target: 'live', path: item(),
      body: () => ({ headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(spec.patch.operations) }),
    },
    { method: 'DELETE', template: I, success: 204, target: 'live', path: item() },
    { method: 'POST', template: `${I}/restore`, success: 200, target: 'deleted', path: item('/restore') },
    { method: 'GET', template: M, success: 200, target: 'live', path: item('/metadata') },
    { method: 'POST', template: M, success: 201, target: 'live', path: item('/metadata'), body: sends({ key: 'new', value: 'v' }) },
    { method: 'GET', template: `${M}/{key}`, success: 200, target: 'live', path: item('/metadata/seed') },
    { method: 'PUT', template: `${M}/{key}`, success: 200, target: 'live', path: item('/metadata/seed'), body: sends(metadataReplacement(`${M}/{key}`, 'seed', 'changed')) },
    { method: 'DELETE', template: `${M}/{key}`, success: 204, target: 'live', path: item('/metadata/seed') },
    { method: 'POST', template: `${M}/bulk`, success: 201, target: 'live', path: item('/metadata/bulk'), body: sends([{ key: 'b1', value: 'v' }]) },
    { method: 'PUT', template: `${M}/bulk`, success: 200, target: 'live', path: item('/metadata/bulk'), body: sends([{ key: 'b2', value: 'v' }]) },
    { method: 'PATCH', template: `${M}/bulk`, success: 200, target: 'live', path: item('/metadata/bulk'), body: sends([{ key: 'seed', value: 'v2' }]) },
    { method: 'GET', template: `${I}/audit_trail`, success: 200, target: 'live', path: item('/audit_trail') },
  ];
  for (const suffix of spec.itemReads ?? []) routes.push({ method: 'GET', template: `${I}${suffix}`, success: 200, target: 'live', path: item(suffix) });
  const { bulk } = spec;
  const B = `${C}/bulk`;
  const bulkPath = (c: string) => `${c}/bulk`;
  if (bulk?.create) routes.push({ method: 'POST', template: B, success: bulk.create, target: 'none', path: bulkPath, body: sends([spec.valid]) });
  if (bulk?.update) routes.push({ method: 'PUT', template: B, success: bulk.update, target: 'live', path: bulkPath, body: (id) => ({ json: [{ ...spec.replacement, id }] }) });
  if (bulk?.patch) {
    routes.push({ method: 'PATCH', template: B, success: 200, target: 'live', path: bulkPath, body: (id) => ({ json: { patches: [{ id, operations: spec.patch.operations }] } }) });
  }
  // The contract's ids parameter is the item's parameter, plural (`threat_ids`).
  if (bulk?.delete) routes.push({ method: 'DELETE', template: B, success: 200, target: 'live', path: (c, id) => `${c}/bulk?${spec.idParam}s=${id}` });
  return routes;
}

describe('authorization matrix for child-resource routes', () => {
  let app: TestApp;
  let who: Callers;
  /** Per threat model (one for the everyone persona, one for the other callers) and kind: a live child with metadata and a deleted one. */
  const fixtures = new Map<string, Record<string, Record<Exclude<Target, 'none'>, string>>>();
  let shared: string;
  let everyones: string;
  const threatModelOf = (persona: Persona) => (persona === 'everyone' ? everyones : shared);

  async function threatModel(persona: Persona): Promise<string> {
    const res = await app.request('/threat_models', { method: 'POST', token: who.owner.token, json: { name: `Child matrix ${persona}`, authorization: accessList(who, persona) } });
    expect(res.status).toBe(201);
    return (await json(res)).id;
  }

  /** A child of its own for a call that changes it; the owner deletes it where the call restores. */
  async function child(spec: KindSpec, tm: string, target: Exclude<Target, 'none'>): Promise<string> {
    const collection = `/threat_models/${tm}/${spec.plural}`;
    const res = await app.request(collection, { method: 'POST', token: who.owner.token, json: spec.valid });
    expect(res.status).toBe(201);
    const { id } = await json(res);
    // Seeded through the metadata routes: not every kind's create takes metadata (CreateDiagramRequest does not).
    expect((await app.request(`${collection}/${id}/metadata/bulk`, { method: 'POST', token: who.owner.token, json: SEED })).status).toBe(201);
    if (target === 'deleted') expect((await app.request(`${collection}/${id}`, { method: 'DELETE', token: who.owner.token })).status).toBe(204);
    return id;
  }

  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    who = signInCallers(app);
    [shared, everyones] = await Promise.all([threatModel('owner'), threatModel('everyone')]);
    await Promise.all([shared, everyones].map(async (tm) => {
      const kinds = await Promise.all(KIND_SPECS.map(async (spec) => [spec.plural, { live: await child(spec, tm, 'live'), deleted: await child(spec, tm, 'deleted') }] as const));
      fixtures.set(tm, Object.fromEntries(kinds));
    }));
  });
  afterAll(async () => { await app?.stop(); });

  describe.each(KIND_SPECS.map((spec) => [spec.plural, spec] as const))('%s', (_plural, spec) => {
    it.each(routesOf(spec).map((r) => [`${r.method} ${r.template}`, r] as const))('%s', async (_label, route) => {
      const min = requiredRole(route.method, route.template);
      const expected = Object.fromEntries(PERSONAS.map((p) => [p, expectedStatus(p, min, route.success)]));
      const allowed = (p: Persona) => expected[p] === route.success;
      const changes = route.method !== 'GET';
      const calls = await Promise.all(PERSONAS.map(async (persona) => {
        const tm = threatModelOf(persona);
        const id = route.target === 'none' ? '' : allowed(persona) && changes ? await child(spec, tm, route.target) : fixtures.get(tm)![spec.plural]![route.target];
        const path = route.path(`/threat_models/${tm}/${spec.plural}`, id);
        return { persona, send: async () => answered(await app.request(path, { method: route.method, token: tokenOf(who, persona), ...route.body?.(id) })) };
      }));
      const statuses: Record<string, number> = {};
      const answer = async ({ persona, send }: (typeof calls)[number]) => { statuses[persona] = await send(); };
      // The refusals go first and alone, so that the event count sees only them.
      const before = await eventCount(app);
      await Promise.all(calls.filter((c) => !allowed(c.persona)).map(answer));
      const appendedByRefusals = await eventCount(app) - before;
      await Promise.all(calls.filter((c) => allowed(c.persona)).map(answer));
      expect({ statuses, appendedByRefusals }).toEqual({ statuses: expected, appendedByRefusals: 0 });
    });
  });
});
