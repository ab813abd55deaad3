import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { signIn } from './helpers.js';

/** Without Redis (the `npm start` default) BullMQ runs on PostgreSQL; read-your-writes must hold there too. */
describe('threat models with BullMQ on PostgreSQL', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp({ redis: false, overrides: { server: { read_your_writes_timeout_ms: 15_000 } } }); });
  afterAll(async () => { await app?.stop(); });

  it('create, then GET and list at once', async () => {
    const alice = signIn(app, 'alice');
    const created = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'No Redis', metadata: [{ key: 'k', value: 'v' }] } });
    expect(created.status).toBe(201);
    const { id } = await json(created);
    const got = await app.request(`/threat_models/${id}`, { token: alice.token });
    expect(got.status).toBe(200);
    expect((await json(got)).metadata).toEqual([{ key: 'k', value: 'v' }]);
    expect((await json(await app.request('/threat_models', { token: alice.token }))).threat_models.map((t: { id: string }) => t.id)).toEqual([id]);
  });
});
