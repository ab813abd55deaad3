import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertErrorBody } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { eventCount, signIn, type Who } from '../threat-models/helpers.js';

/**
 * An ill-formed Idempotency-Key is refused with any write, also where no replay is kept (README,
 * "Idempotency-Key"), and changes nothing; authentication still answers first.
 */
describe('an ill-formed Idempotency-Key', () => {
  let app: TestApp;
  let carol: Who;
  beforeAll(async () => {
    app = await startTestApp();
    carol = signIn(app, 'carol');
  });
  afterAll(async () => { await app?.stop(); });

  const create = (headers: Record<string, string>, token: string | null = carol.token) =>
    app.request('/me/client_credentials', { method: 'POST', ...(token ? { token } : {}), json: { name: 'keyed' }, headers });

  it('is refused with 400 and the error body by a write that keeps no replay, which then writes nothing', async () => {
    const before = await eventCount(app);
    for (const headers of [{ 'idempotency-key': 'has space' }, { 'idempotency-key': 'x'.repeat(129) }, { 'x-command-id': 'a/b' }, { 'idempotency-key': '' }] as Record<string, string>[]) {
      const res = await create(headers);
      expect(res.status, JSON.stringify(headers)).toBe(400);
      const body = await json(res);
      assertErrorBody(body);
      expect(body.error_description).toMatch(/Idempotency-Key/);
    }
    expect(await eventCount(app)).toBe(before);
    // A well-formed key is taken (and, here, not replayed: the README's scope).
    expect((await create({ 'idempotency-key': 'cred-1' })).status).toBe(201);
    expect(await eventCount(app)).toBeGreaterThan(before);
  });

  it('meets authentication first, and is not read by a query', async () => {
    expect((await create({ 'idempotency-key': 'has space' }, null)).status).toBe(401);
    expect((await app.request('/threat_models', { token: carol.token, headers: { 'idempotency-key': 'has space' } })).status).toBe(200);
  });
});
