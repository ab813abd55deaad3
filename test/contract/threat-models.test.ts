import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { groupEntry, signIn, userEntry, type Who } from '../threat-models/helpers.js';
import { assertConforms } from './contract.js';

/** Every threat model route's answers, successes and refusals, checked against the contract's schemas. */
describe('threat model routes conform to the TMI contract', () => {
  let app: TestApp;
  let alice: Who, bob: Who, carol: Who, reviewer: Who;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    alice = signIn(app, 'alice');
    bob = signIn(app, 'bob');
    carol = signIn(app, 'carol');
    reviewer = signIn(app, 'rita', { is_security_reviewer: true });
  });
  afterAll(async () => { await app?.stop(); });

  const seen = new Set<string>();
  /** Calls the route, checks the status, validates the body against the contract, returns it. */
  async function call(method: string, template: string, path: string, status: number, init: { who?: Who; json?: unknown; headers?: Record<string, string> } = {}) {
    const res = await app.request(path, { method, token: init.who?.token, json: init.json, headers: init.headers });
    const text = await res.text();
    expect(res.status, `${method} ${path}: ${text}`).toBe(status);
    const body = text ? JSON.parse(text) : null;
    assertConforms(method, template, status, body);
    seen.add(`${method} ${template} ${status}`);
    return { res, body };
  }

  const TM = '/threat_models/{threat_model_id}';
  const UNKNOWN = '0190a000-0000-7000-8000-00000000dead';
  const META = `${TM}/metadata`;

  it('threat models: list, create, get, put, patch, delete, restore', async () => {
    const created = await call('POST', '/threat_models', '/threat_models', 201, {
      who: alice,
      json: {
        name: 'Contract', description: 'd', threat_model_framework: 'LINDDUN', issue_uri: 'https://issues.example.com/1',
        authorization: [userEntry(bob, 'writer'), userEntry(carol, 'reader'), groupEntry('auditors', 'reader')],
        metadata: [{ key: 'env', value: 'prod' }],
      },
    });
    const id = created.body.id as string;
    const url = `/threat_models/${id}`;
    await call('GET', '/threat_models', '/threat_models?limit=5', 200, { who: alice });
    await call('GET', '/threat_models', '/threat_models?name=Contract&status=not_started&created_after=2020-01-01T00:00:00Z', 200, { who: carol });
    await call('GET', TM, url, 200, { who: carol });
    await call('PUT', TM, url, 200, { who: bob, json: { name: 'Contract v2', description: null, metadata: [{ key: 'env', value: 'stage' }] }, headers: { 'if-match': '2' } });
    await call('PATCH', TM, url, 200, { who: reviewer, json: [{ op: 'replace', path: '/status', value: 'in_review' }, { op: 'replace', path: '/security_reviewer', value: { principal_type: 'user', provider: 'tmi', provider_id: 'rita@tmi.local', display_name: 'Rita', email: 'rita@tmi.local' } }] });
    await call('PATCH', TM, url, 200, { who: alice, json: [{ op: 'add', path: '/project_id', value: '0190a000-0000-7000-8000-0000000000ff' }] });
    await call('GET', '/threat_models', '/threat_models?security_reviewer=rita', 200, { who: alice });
    await call('POST', `${TM}/restore`, `${url}/restore`, 409, { who: alice });
    await call('DELETE', TM, url, 204, { who: alice });
    await call('GET', '/threat_models', '/threat_models?include_deleted=true', 200, { who: alice });
    await call('POST', `${TM}/restore`, `${url}/restore`, 200, { who: alice });
  });

  it('threat model refusals carry the error body', async () => {
    const { body } = await call('POST', '/threat_models', '/threat_models', 201, { who: alice, json: { name: 'Refusals', authorization: [userEntry(carol, 'reader')] } });
    const url = `/threat_models/${body.id}`;
    await call('POST', '/threat_models', '/threat_models', 400, { who: alice, json: { name: '' } });
    await call('POST', '/threat_models', '/threat_models', 401, { json: { name: 'x' } });
    await call('GET', '/threat_models', '/threat_models?limit=0', 400, { who: alice });
    await call('GET', '/threat_models', '/threat_models', 401);
    await call('GET', TM, '/threat_models/not-a-uuid', 400, { who: alice });
    await call('GET', TM, url, 403, { who: bob });
    await call('GET', TM, `/threat_models/${UNKNOWN}`, 404, { who: alice });
    await call('GET', TM, url, 401);
    await call('GET', TM, '/threat_models/not-a-uuid', 401);
    await call('PUT', TM, url, 403, { who: carol, json: { name: 'x' } });
    await call('PUT', TM, url, 409, { who: alice, json: { name: 'x' }, headers: { 'if-match': '"9"' } });
    await call('PUT', TM, url, 403, { who: bob, json: { name: 'x' } });
    await call('PUT', TM, `/threat_models/${UNKNOWN}`, 404, { who: bob, json: { name: 'x' } });
    await call('PUT', TM, url, 401, { json: { name: 'x', surprise: true } });
    await call('PUT', TM, url, 400, { who: alice, json: { name: 'x', surprise: true } });
    await call('PATCH', TM, url, 400, { who: alice, json: [{ op: 'replace', path: '/created_at', value: 'x' }] });
    await call('PATCH', TM, url, 403, { who: carol, json: [{ op: 'replace', path: '/name', value: 'x' }] });
    await call('DELETE', TM, url, 403, { who: carol });
    await call('DELETE', TM, url, 403, { who: bob });
    await call('POST', `${TM}/restore`, `${url}/restore`, 403, { who: bob });
    await call('POST', `${TM}/restore`, `/threat_models/${UNKNOWN}/restore`, 404, { who: alice });
    app.runtime.services.config.server.require_if_match = true;
    try {
      await call('PUT', TM, url, 428, { who: alice, json: { name: 'x' } });
    } finally {
      app.runtime.services.config.server.require_if_match = false;
    }
  });

  it('metadata routes', async () => {
    const { body } = await call('POST', '/threat_models', '/threat_models', 201, { who: alice, json: { name: 'Meta contract', authorization: [userEntry(carol, 'reader')] } });
    const base = `/threat_models/${body.id}/metadata`;
    await call('POST', META, base, 201, { who: alice, json: { key: 'a', value: '1' } });
    await call('POST', META, base, 409, { who: alice, json: { key: 'a', value: '1' } });
    await call('POST', META, base, 400, { who: alice, json: { key: 'bad key', value: '1' } });
    await call('POST', META, base, 403, { who: carol, json: { key: 'b', value: '1' } });
    await call('GET', META, base, 200, { who: carol });
    await call('GET', META, base, 403, { who: bob });
    await call('GET', META, `/threat_models/${UNKNOWN}/metadata`, 404, { who: bob });
    await call('POST', META, base, 403, { who: bob, json: { key: 'b', value: '1' } });
    await call('GET', `${META}/{key}`, `${base}/a`, 200, { who: carol });
    await call('GET', `${META}/{key}`, `${base}/zzz`, 404, { who: carol });
    await call('PUT', `${META}/{key}`, `${base}/a`, 200, { who: alice, json: { value: '2' } });
    await call('PUT', `${META}/{key}`, `${base}/a`, 400, { who: alice, json: { value: 2 } });
    await call('POST', `${META}/bulk`, `${base}/bulk`, 201, { who: alice, json: [{ key: 'b', value: '1' }, { key: 'c', value: '1' }] });
    await call('POST', `${META}/bulk`, `${base}/bulk`, 409, { who: alice, json: [{ key: 'b', value: '1' }] });
    await call('PATCH', `${META}/bulk`, `${base}/bulk`, 200, { who: alice, json: [{ key: 'b', value: '2' }] });
    await call('PUT', `${META}/bulk`, `${base}/bulk`, 200, { who: alice, json: [{ key: 'z', value: '1' }] });
    await call('PUT', `${META}/bulk`, `${base}/bulk`, 400, { who: alice, json: Array.from({ length: 21 }, (_, i) => ({ key: `k${i}`, value: 'v' })) });
    await call('DELETE', `${META}/{key}`, `${base}/z`, 204, { who: alice });
    await call('DELETE', `${META}/{key}`, `${base}/z`, 404, { who: alice });
    await call('DELETE', `${META}/{key}`, `${base}/z`, 401);
  });

  it('covered every operation of these routes', () => {
    const operations = new Set([...seen].map((s) => s.split(' ').slice(0, 2).join(' ')));
    expect([...operations].sort()).toEqual([
      'DELETE /threat_models/{threat_model_id}', 'DELETE /threat_models/{threat_model_id}/metadata/{key}',
      'GET /threat_models', 'GET /threat_models/{threat_model_id}', 'GET /threat_models/{threat_model_id}/metadata',
      'GET /threat_models/{threat_model_id}/metadata/{key}', 'PATCH /threat_models/{threat_model_id}',
      'PATCH /threat_models/{threat_model_id}/metadata/bulk', 'POST /threat_models', 'POST /threat_models/{threat_model_id}/metadata',
      'POST /threat_models/{threat_model_id}/metadata/bulk', 'POST /threat_models/{threat_model_id}/restore',
      'PUT /threat_models/{threat_model_id}', 'PUT /threat_models/{threat_model_id}/metadata/bulk', 'PUT /threat_models/{threat_model_id}/metadata/{key}',
    ]);
  });
});
