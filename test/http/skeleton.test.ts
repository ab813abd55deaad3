import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { signIn } from '../threat-models/helpers.js';

describe('service skeleton', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp(); });
  afterAll(async () => { await app?.stop(); });

  it('GET / returns ApiInfo with status ok', async () => {
    const res = await app.request('/');
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.status.code).toBe('ok');
    expect(body.api.version).toBe('1.8.22');
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('echoes a sane X-Request-ID and replaces an unsafe one', async () => {
    const ok = await app.request('/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(ok.headers.get('x-request-id')).toBe('abc-123');
    const bad = await app.request('/healthz', { headers: { 'x-request-id': 'x'.repeat(300) } });
    expect(bad.headers.get('x-request-id')).not.toBe('x'.repeat(300));
  });

  it('GET /config returns a ClientConfig', async () => {
    const res = await app.request('/config');
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.features.websocket_enabled).toBe(true);
    expect(res.headers.get('cache-control')).toContain('max-age');
  });

  it('probes and metrics answer', async () => {
    expect((await app.request('/healthz')).status).toBe(200);
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(200);
    expect((await json(ready)).database.status).toBe('healthy');
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toContain('tmi_http_request_duration_seconds');
  });

  it('unknown routes answer 404 with the error body to a signed-in caller, 401 to anyone else', async () => {
    const { token } = signIn(app, 'router');
    const res = await app.request('/no/such/route', { token });
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: 'not_found', error_description: expect.any(String) });
    // Only an authenticated caller learns which routes exist (TMI authenticates before routing).
    for (const [method, path] of [['GET', '/no/such/route'], ['DELETE', '/threat_models'], ['POST', '/config']]) {
      const anonymous = await app.request(path!, { method });
      expect(anonymous.status, `${method} ${path}`).toBe(401);
      expect(await json(anonymous)).toEqual({ error: 'unauthorized', error_description: expect.any(String) });
    }
  });

  it('serves its OpenAPI document', async () => {
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    expect((await json(res)).openapi).toBe('3.0.3');
  });
});
