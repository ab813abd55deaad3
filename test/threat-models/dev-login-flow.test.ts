import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { loginWithDevProvider } from '../helpers/login.js';

/** The README's walk-through: log in with the dev provider, create, share, and see it listed with counts. */
describe('dev login → create → share → list', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } }); });
  afterAll(async () => { await app?.stop(); });

  it('a second user sees a threat model shared with them, with its counts', async () => {
    const alice = (await loginWithDevProvider(app, 'alice')).access_token;
    const bob = (await loginWithDevProvider(app, 'bob')).access_token;
    const bobMe = await json(await app.request('/me', { token: bob }));
    expect(bobMe.email).toEqual(expect.any(String));

    const created = await app.request('/threat_models', { method: 'POST', token: alice, json: { name: 'Shared by curl' } });
    expect(created.status).toBe(201);
    const tm = await json(created);
    expect((await json(await app.request('/threat_models', { token: bob }))).total).toBe(0);

    const share = await app.request(`/threat_models/${tm.id}`, {
      method: 'PATCH', token: alice, headers: { 'content-type': 'application/json-patch+json', 'if-match': created.headers.get('etag')! },
      body: JSON.stringify([{ op: 'add', path: '/authorization/-', value: { principal_type: 'user', provider: '*', provider_id: bobMe.email, role: 'writer' } }]),
    });
    expect(share.status).toBe(200);

    const list = await json(await app.request('/threat_models', { token: bob }));
    expect(list.total).toBe(1);
    expect(list.threat_models[0]).toMatchObject({
      id: tm.id, name: 'Shared by curl', owner: { email: tm.owner.email },
      document_count: 0, repo_count: 0, diagram_count: 0, threat_count: 0, asset_count: 0, note_count: 0,
    });
  });
});
