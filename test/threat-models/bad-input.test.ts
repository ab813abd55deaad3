import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { eventCount, signIn, type Who } from './helpers.js';

/**
 * Bad input never gets past the door: malformed JSON, wrong types, oversize strings and
 * arrays, unknown fields and bad patches all answer 4xx with TMI's error body, and the event
 * store is left exactly as it was.
 */
const RUNS = 20;

describe('bad input to threat model routes', () => {
  let app: TestApp;
  let alice: Who;
  let id: string;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    alice = signIn(app, 'alice');
    const res = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Target', metadata: [{ key: 'seed', value: 's' }] } });
    id = (await json(res)).id;
  });
  afterAll(async () => { await app?.stop(); });

  const bodyRoutes = () => [
    { method: 'POST', path: '/threat_models', kind: 'threat_model' },
    { method: 'PUT', path: `/threat_models/${id}`, kind: 'threat_model' },
    { method: 'PATCH', path: `/threat_models/${id}`, kind: 'patch' },
    { method: 'POST', path: `/threat_models/${id}/metadata`, kind: 'metadata' },
    { method: 'PUT', path: `/threat_models/${id}/metadata/seed`, kind: 'value' },
    { method: 'POST', path: `/threat_models/${id}/metadata/bulk`, kind: 'bulk' },
    { method: 'PUT', path: `/threat_models/${id}/metadata/bulk`, kind: 'bulk' },
    { method: 'PATCH', path: `/threat_models/${id}/metadata/bulk`, kind: 'bulk' },
  ] as const;
  type Kind = ReturnType<typeof bodyRoutes>[number]['kind'];

  /** Sends a raw body and checks: 4xx, the error body, no new events. */
  async function refused(method: string, path: string, body: string, contentType = 'application/json') {
    const before = await eventCount(app);
    const res = await app.request(path, { method, token: alice.token, body, headers: { 'content-type': contentType } });
    const text = await res.text();
    expect(res.status, `${method} ${path} ${body.slice(0, 200)} → ${text}`).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(JSON.parse(text)).toEqual(expect.objectContaining({ error: expect.any(String), error_description: expect.any(String) }));
    expect(await eventCount(app)).toBe(before);
  }

  const valid: Record<Kind, () => unknown> = {
    threat_model: () => ({ name: 'Valid', description: 'd', threat_model_framework: 'STRIDE', issue_uri: 'https://x.example.com/1', authorization: [], metadata: [], is_confidential: false }),
    patch: () => [{ op: 'replace', path: '/name', value: 'Valid' }],
    metadata: () => ({ key: 'k', value: 'v' }),
    value: () => ({ value: 'v' }),
    bulk: () => [{ key: 'k', value: 'v' }],
  };

  const notString = fc.oneof(fc.integer(), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }));
  const notStringOrNull = fc.oneof(fc.integer(), fc.boolean(), fc.constant([1]), fc.constant({ a: 1 }));

  it('malformed JSON', async () => {
    const malformed = fc.string({ maxLength: 40 }).filter((s) => { try { JSON.parse(s); return false; } catch { return true; } });
    await fc.assert(fc.asyncProperty(fc.constantFrom(...bodyRoutes()), malformed, async (route, body) => {
      await refused(route.method, route.path, body, route.kind === 'patch' ? 'application/json-patch+json' : 'application/json');
    }), { numRuns: RUNS });
  });

  it('wrong types', async () => {
    const threatModelField = fc.oneof(
      fc.record({ field: fc.constant('name'), value: fc.oneof(notString, fc.constant(null)) }),
      fc.record({ field: fc.constantFrom('description', 'threat_model_framework', 'issue_uri'), value: notStringOrNull }),
      fc.record({ field: fc.constantFrom('authorization', 'metadata'), value: fc.oneof(fc.string(), fc.integer(), fc.constant({})) }),
      fc.record({ field: fc.constant('is_confidential'), value: fc.oneof(fc.string(), fc.integer(), fc.constant(null)) }),
    );
    await fc.assert(fc.asyncProperty(fc.constantFrom(...bodyRoutes().filter((r) => r.kind === 'threat_model')), threatModelField, async (route, { field, value }) => {
      await refused(route.method, route.path, JSON.stringify({ ...(valid.threat_model() as object), [field]: value }));
    }), { numRuns: RUNS });
    await fc.assert(fc.asyncProperty(fc.constantFrom('key', 'value'), fc.oneof(notString, fc.constant(null)), async (field, value) => {
      await refused('POST', `/threat_models/${id}/metadata`, JSON.stringify({ ...(valid.metadata() as object), [field]: value }));
      await refused('PATCH', `/threat_models/${id}/metadata/bulk`, JSON.stringify([{ ...(valid.metadata() as object), [field]: value }]));
    }), { numRuns: RUNS });
    await fc.assert(fc.asyncProperty(fc.constantFrom(...bodyRoutes()), fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string()), async (route, body) => {
      await refused(route.method, route.path, JSON.stringify(body));
    }), { numRuns: RUNS });
  });

  it('oversize strings and arrays', async () => {
    const big = (min: number) => fc.integer({ min, max: min + 3000 }).map((n) => 'a'.repeat(n));
    const oversize = fc.oneof(
      big(257).map((name) => ({ route: 'tm', body: { name } })),
      big(2049).map((description) => ({ route: 'tm', body: { name: 'n', description } })),
      big(1001).map((issue_uri) => ({ route: 'tm', body: { name: 'n', issue_uri: `https://x.example.com/${issue_uri}` } })),
      fc.integer({ min: 101, max: 140 }).map((n) => ({ route: 'tm', body: { name: 'n', metadata: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: 'v' })) } })),
      fc.integer({ min: 1001, max: 1100 }).map((n) => ({ route: 'tm', body: { name: 'n', authorization: Array.from({ length: n }, (_, i) => ({ principal_type: 'user', provider: 'tmi', provider_id: `u${i}@tmi.local`, role: 'reader' })) } })),
      big(257).map((key) => ({ route: 'meta', body: { key, value: 'v' } })),
      big(1025).map((value) => ({ route: 'meta', body: { key: 'k', value } })),
      fc.integer({ min: 21, max: 60 }).map((n) => ({ route: 'bulk', body: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: 'v' })) })),
      fc.integer({ min: 1001, max: 1100 }).map((n) => ({ route: 'patch', body: Array.from({ length: n }, () => ({ op: 'test', path: '/name', value: 'Target' })) })),
    );
    await fc.assert(fc.asyncProperty(oversize, async ({ route, body }) => {
      const target = { tm: ['POST', '/threat_models'], meta: ['POST', `/threat_models/${id}/metadata`], bulk: ['POST', `/threat_models/${id}/metadata/bulk`], patch: ['PATCH', `/threat_models/${id}`] }[route]!;
      await refused(target[0]!, target[1]!, JSON.stringify(body));
    }), { numRuns: RUNS });
    // Beyond the body limit the request is refused before it is parsed.
    await refused('POST', '/threat_models', JSON.stringify({ name: 'n', description: 'x'.repeat(app.config.server.body_limit_bytes) }));
  });

  it('unknown fields', async () => {
    const known = new Set(['name', 'description', 'threat_model_framework', 'authorization', 'metadata', 'issue_uri', 'is_confidential', 'key', 'value', 'op', 'path']);
    const unknownKey = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !known.has(k) && k !== '__proto__');
    await fc.assert(fc.asyncProperty(fc.constantFrom(...bodyRoutes()), unknownKey, fc.jsonValue(), async (route, key, value) => {
      const body = valid[route.kind]();
      const withExtra = Array.isArray(body) ? [{ ...body[0], [key]: value }] : { ...(body as object), [key]: value };
      await refused(route.method, route.path, JSON.stringify(withExtra), route.kind === 'patch' ? 'application/json-patch+json' : 'application/json');
    }), { numRuns: RUNS });
    // Read-only members of a threat model are unknown to its input.
    for (const field of ['id', 'owner', 'created_at', 'version', 'alias', 'status']) {
      await refused('PUT', `/threat_models/${id}`, JSON.stringify({ name: 'n', [field]: 'x' }));
    }
  });

  it('bad patches', async () => {
    const badOperation = fc.oneof(
      fc.record({ op: fc.string({ maxLength: 8 }).filter((o) => !['add', 'remove', 'replace', 'move', 'copy', 'test'].includes(o)), path: fc.constant('/name'), value: fc.constant('x') }),
      fc.record({ op: fc.constantFrom('add', 'replace'), path: fc.constantFrom('/id', '/created_at', '/modified_at', '/alias', '/created_by', '/is_confidential', '/version', '/threats', '/nope', ''), value: fc.string() }),
      fc.record({ op: fc.constantFrom('add', 'replace'), path: fc.constant('/name'), value: fc.oneof(notString, fc.constant(null), fc.constant(''), fc.constant('a'.repeat(300))) }),
      fc.record({ op: fc.constantFrom('add', 'replace'), path: fc.constant('/threat_model_framework'), value: fc.string({ minLength: 1, maxLength: 10 }).filter((f) => !['cia', 'stride', 'linddun', 'die', 'plot4ai'].includes(f.toLowerCase())) }),
      fc.record({ op: fc.constant('add'), path: fc.constant('/metadata/-'), value: fc.record({ key: fc.constantFrom('bad key', '', 'ü'), value: fc.string() }) }),
      fc.record({ op: fc.constant('add'), path: fc.constant('/authorization/-'), value: fc.record({ principal_type: fc.constantFrom('robot', 'user'), provider: fc.constantFrom('tmi', '1bad'), provider_id: fc.constant(''), role: fc.constantFrom('admin', 'reader') }) }),
      fc.record({ op: fc.constantFrom('remove', 'replace'), path: fc.constantFrom('/name/x', '/metadata/99', '/authorization/abc') }),
      fc.record({ op: fc.constantFrom('move', 'copy'), path: fc.constant('/name') }),
    );
    await fc.assert(fc.asyncProperty(fc.array(badOperation, { minLength: 1, maxLength: 3 }), async (operations) => {
      await refused('PATCH', `/threat_models/${id}`, JSON.stringify(operations), 'application/json-patch+json');
    }), { numRuns: RUNS * 2 });
    await refused('PATCH', `/threat_models/${id}`, '[]', 'application/json-patch+json');
    await refused('PATCH', `/threat_models/${id}`, JSON.stringify({ op: 'replace', path: '/name', value: 'x' }), 'application/json-patch+json');
  });

  it('NUL characters, unpaired surrogates and deep nesting, which the store cannot hold', async () => {
    await refused('POST', `/threat_models/${id}/metadata`, JSON.stringify({ key: 'nul', value: 'a\u0000b' }));
    await refused('POST', `/threat_models/${id}/metadata`, '{"key": "half", "value": "a\\ud800b"}');
    await refused('POST', `/threat_models/${id}/metadata/bulk`, '[{"key": "half", "value": "\\udc00"}]');
    await refused('PATCH', `/threat_models/${id}`, `[{"op":"add","path":"/metadata/-","value":${'['.repeat(5000)}${']'.repeat(5000)}}]`, 'application/json-patch+json');
    await refused('POST', '/threat_models', JSON.stringify({ name: 'Nul', authorization: [{ principal_type: 'user', provider: 'tmi', provider_id: 'x\u0000', role: 'reader' }] }));
    await refused('PATCH', `/threat_models/${id}`, JSON.stringify([{ op: 'add', path: '/metadata/-', value: { key: 'k', value: '\u0000' } }]), 'application/json-patch+json');
    const res = await app.request(`/threat_models?status=${encodeURIComponent('a\u0000')}`, { token: alice.token });
    expect(res.status).toBe(400);
  });

  it('emails the contract\'s pattern admits but its format: email refuses (whole-API fuzzing finding)', async () => {
    // Each matches ^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$; none is an email by format: email.
    const notEmails = ['+_U-_.+-M@.rewproto.example', 'a@b..example', '.a@b.example', 'a.@b.example', 'a..b@c.example', 'a@-b.example', 'a@b-.example'];
    for (const email of notEmails) {
      const entry = { principal_type: 'user', provider: 'tmi', provider_id: 'someone', email, role: 'reader' };
      await refused('POST', '/threat_models', JSON.stringify({ name: 'Emails', authorization: [entry] }));
      await refused('PUT', `/threat_models/${id}`, JSON.stringify({ name: 'Emails', authorization: [entry] }));
      await refused('PATCH', `/threat_models/${id}`, JSON.stringify([{ op: 'add', path: '/authorization/-', value: entry }]), 'application/json-patch+json');
    }
    // What both admit is taken and answered as sent.
    const email = 'first.last+tag@sub-domain.example.com';
    const res = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Emails', authorization: [{ principal_type: 'user', provider: 'tmi', provider_id: 'someone', email, role: 'reader' }] } });
    expect(res.status).toBe(201);
    expect((await json(res)).authorization).toContainEqual(expect.objectContaining({ provider_id: 'someone', email }));
  });

  it('list filters with RFC 3339 timestamps PostgreSQL cannot hold', async () => {
    const cases: [string, string][] = [['created_after', '0000-01-01T00:00:00Z'], ['modified_before', '2024-01-01T00:00:00+20:00'], ['status_updated_after', '2024-01-01T00:00:00-16:00']];
    for (const [filter, value] of cases) {
      const res = await app.request(`/threat_models?${new URLSearchParams({ [filter]: value })}`, { token: alice.token });
      expect(res.status, `${filter}=${value}`).toBe(400);
      expect(await json(res)).toMatchObject({ error: 'invalid_input', error_description: expect.any(String) });
    }
    expect((await app.request(`/threat_models?${new URLSearchParams({ created_after: '2024-01-01T00:00:00+15:59' })}`, { token: alice.token })).status).toBe(200);
  });
});
