import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';

const WEB_CLIENT = 'http://localhost:4200';

const preflight = (app: TestApp, origin: string, path = '/threat_models') => app.request(path, {
  method: 'OPTIONS',
  headers: { origin, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization, content-type, if-match' },
});

const corsHeaders = (res: Response) => [...res.headers.keys()].filter((h) => h.startsWith('access-control-'));

describe('CORS with configured origins', () => {
  let app: TestApp;
  beforeAll(async () => {
    // A tiny auth budget: preflights must not consume it, or the browser's real request gets a 429.
    app = await startTestApp({ overrides: { server: { cors_origins: [`${WEB_CLIENT}/`] }, rate_limit: { auth_per_minute: 2 } } });
  });
  afterAll(async () => { await app?.stop(); });

  it('answers a preflight from a listed origin with credentials, allowed and exposed headers', async () => {
    const res = await preflight(app, WEB_CLIENT);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(WEB_CLIENT);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-methods')).toContain('PATCH');
    const allowed = res.headers.get('access-control-allow-headers')!.toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'if-match', 'prefer', 'idempotency-key', 'x-command-id', 'x-min-position', 'x-request-id']));
    expect(res.headers.get('vary')).toMatch(/origin/i);
  });

  it('does not rate-limit or authenticate preflights', async () => {
    for (let i = 0; i < 5; i++) expect((await preflight(app, WEB_CLIENT, '/oauth2/token')).status).toBe(204);
    for (let i = 0; i < 5; i++) expect((await preflight(app, WEB_CLIENT, '/me')).status).toBe(204);
    // The auth budget of 2 is untouched by the preflights, and a 429 stays readable by the browser.
    const token = () => app.request('/oauth2/token', { method: 'POST', headers: { origin: WEB_CLIENT }, json: { grant_type: 'refresh_token' } });
    expect((await token()).status).toBe(400);
    expect((await token()).status).toBe(400);
    const limited = await token();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('access-control-allow-origin')).toBe(WEB_CLIENT);
  });

  it('exposes the headers clients read on actual responses, errors included', async () => {
    const res = await app.request('/me', { headers: { origin: WEB_CLIENT } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe(WEB_CLIENT);
    const exposed = res.headers.get('access-control-expose-headers')!.toLowerCase().split(/,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['etag', 'x-event-position', 'x-request-id', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after', 'warning', 'idempotent-replayed']));
    expect(await json(res)).toMatchObject({ error: expect.any(String) });
  });

  it('sends no CORS headers to an origin that is not listed', async () => {
    const pre = await preflight(app, 'https://evil.example');
    expect(pre.status).not.toBe(204);
    expect(corsHeaders(pre)).toEqual([]);
    const res = await app.request('/me', { headers: { origin: 'https://evil.example' } });
    expect(corsHeaders(res)).toEqual([]);
  });
});

describe('CORS with a wildcard origin', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp({ overrides: { server: { cors_origins: ['*'] } } }); });
  afterAll(async () => { await app?.stop(); });

  it('allows any origin, without credentials (browsers refuse a credentialed wildcard)', async () => {
    const res = await preflight(app, 'https://anywhere.example');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });
});

describe('CORS by default', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp(); });
  afterAll(async () => { await app?.stop(); });

  it('sends no CORS headers at all', async () => {
    const pre = await preflight(app, WEB_CLIENT);
    expect(corsHeaders(pre)).toEqual([]);
    const res = await app.request('/healthz', { headers: { origin: WEB_CLIENT } });
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual([]);
  });
});
