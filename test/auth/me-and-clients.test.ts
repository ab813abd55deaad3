import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { eventually } from '../helpers/eventually.js';
import { loginWithDevProvider, type Tokens } from '../helpers/login.js';

describe('/me, preferences and groups', () => {
  let app: TestApp;
  let tokens: Tokens;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { auth: { administrators: [{ provider: 'tmi', email: 'root@tmi.local' }], security_reviewers: [{ provider: 'tmi', subject: 'reviewer' }] } } });
    tokens = await loginWithDevProvider(app, 'prefs-user');
  });
  afterAll(async () => { await app?.stop(); });

  it('requires a token', async () => {
    const res = await app.request('/me');
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: expect.any(String), error_description: expect.any(String) });
  });

  it('POST creates preferences once, PUT replaces them, GET reads them back at once', async () => {
    expect(await json(await app.request('/me/preferences', { token: tokens.access_token }))).toEqual({});
    const created = await app.request('/me/preferences', { method: 'POST', token: tokens.access_token, json: { ui: { theme: 'dark' } } });
    expect(created.status).toBe(201);
    expect((await app.request('/me/preferences', { method: 'POST', token: tokens.access_token, json: { ui: { theme: 'light' } } })).status).toBe(409);
    const replaced = await app.request('/me/preferences', { method: 'PUT', token: tokens.access_token, json: { ui: { theme: 'light' }, tmi: { lang: 'en' } } });
    expect(replaced.status).toBe(200);
    expect(await json(await app.request('/me/preferences', { token: tokens.access_token }))).toEqual({ ui: { theme: 'light' }, tmi: { lang: 'en' } });
  });

  it('enforces the preference limits of the contract', async () => {
    const tooMany = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, {}]));
    expect((await app.request('/me/preferences', { method: 'PUT', token: tokens.access_token, json: tooMany })).status).toBe(400);
    expect((await app.request('/me/preferences', { method: 'PUT', token: tokens.access_token, json: { ui: 'dark' } })).status).toBe(400);
    expect((await app.request('/me/preferences', { method: 'PUT', token: tokens.access_token, json: { ui: { theme: 'dark\u0000' } } })).status).toBe(400);
    expect((await app.request('/me/preferences', { method: 'PUT', token: tokens.access_token, json: { ['\ud800']: {} } })).status).toBe(400);
    const deep = await app.request('/me/preferences', { method: 'PUT', token: tokens.access_token, headers: { 'content-type': 'application/json' }, body: `{"ui":{"x":${'['.repeat(5000)}${']'.repeat(5000)}}}` });
    expect(deep.status).toBe(400);
  });

  it('bootstraps administrators and security reviewers from configuration', async () => {
    const admin = await loginWithDevProvider(app, 'root');
    const me = await json(await app.request('/me', { token: admin.access_token }));
    expect(me).toMatchObject({ is_admin: true, is_security_reviewer: false });
    expect(me.groups.map((g: { group_name: string }) => g.group_name)).toEqual(['everyone', 'administrators']);
    const reviewer = await json(await app.request('/me', { token: (await loginWithDevProvider(app, 'reviewer')).access_token }));
    expect(reviewer).toMatchObject({ is_admin: false, is_security_reviewer: true });
  });

  it('lists the members of a group the caller belongs to, and hides other groups', async () => {
    const admin = await loginWithDevProvider(app, 'root');
    const groups = await json(await app.request('/me/groups', { token: admin.access_token }));
    expect(groups.total).toBe(2);
    const administrators = groups.groups.find((g: { group_name: string }) => g.group_name === 'administrators');
    // Memberships come from the users projection, which follows the login event.
    const members = await eventually('the administrator is listed as a member', async () => {
      const listed = await json(await app.request(`/me/groups/${administrators.internal_uuid}/members`, { token: admin.access_token }));
      return listed.total > 0 ? listed : null;
    });
    expect(members.members).toEqual([expect.objectContaining({ user_email: 'root@tmi.local', user_provider: 'tmi', subject_type: 'user' })]);
    const stranger = await app.request(`/me/groups/${administrators.internal_uuid}/members`, { token: tokens.access_token });
    expect(stranger.status).toBe(404);
  });

  it('deletes the account in two steps', async () => {
    const doomed = await loginWithDevProvider(app, 'doomed');
    const otherSession = await loginWithDevProvider(app, 'doomed');
    const challenge = await app.request('/me', { method: 'DELETE', token: doomed.access_token });
    expect(challenge.status).toBe(200);
    const { challenge_text, expires_at } = await json(challenge);
    expect(Date.parse(expires_at)).toBeGreaterThan(Date.now());
    expect((await app.request('/me?challenge=wrong', { method: 'DELETE', token: doomed.access_token })).status).toBe(400);
    const done = await app.request(`/me?challenge=${encodeURIComponent(challenge_text)}`, { method: 'DELETE', token: doomed.access_token });
    expect(done.status).toBe(204);
    expect((await app.request('/me', { token: doomed.access_token })).status).toBe(401);
    // Every session of the deleted account ends, not only the one that asked.
    expect((await app.request('/oauth2/userinfo', { token: otherSession.access_token })).status).toBe(401);
    // The refresh family outlives nothing: the user is gone.
    expect((await app.request('/oauth2/refresh', { method: 'POST', json: { refresh_token: doomed.refresh_token } })).status).toBe(401);
    // Logging in again registers a new user.
    const again = await loginWithDevProvider(app, 'doomed');
    expect((await app.request('/me', { token: again.access_token })).status).toBe(200);
  });
});

describe.each([{ redis: true }, { redis: false }])('machine clients (client credentials), redis: $redis', ({ redis }) => {
  let app: TestApp;
  let owner: Tokens;
  beforeAll(async () => {
    app = await startTestApp({ redis, overrides: { auth: { client_credentials_max_failures: 3, client_credentials_lockout_seconds: 120 } } });
    owner = await loginWithDevProvider(app, 'robot-owner');
  });
  afterAll(async () => { await app?.stop(); });

  /** The list is a projection: the write waits for it (bounded), so on a loaded machine allow it to catch up. */
  const listUntil = (predicate: (ids: string[]) => boolean) => eventually('the credential list shows the change', async () => {
    const list = await json(await app.request('/me/client_credentials', { token: owner.access_token }));
    return predicate(list.credentials.map((c: { id: string }) => c.id)) ? list : null;
  });

  const grant = (client_id: string, client_secret: string) => app.request('/oauth2/token', { method: 'POST', json: { grant_type: 'client_credentials', client_id, client_secret } });

  it('creates a credential whose secret is shown once, lists it, and grants tokens for its owner', async () => {
    const created = await app.request('/me/client_credentials', { method: 'POST', token: owner.access_token, json: { name: 'ci bot' } });
    expect(created.status).toBe(201);
    const credential = await json(created);
    expect(credential).toMatchObject({ id: expect.any(String), client_id: expect.stringMatching(/^tmi_cc_[A-Za-z0-9_-]+$/), client_secret: expect.any(String), name: 'ci bot' });

    const list = await listUntil((ids) => ids.includes(credential.id));
    expect(list).toMatchObject({ total: 1, limit: 20, offset: 0 });
    expect(list.credentials[0]).toMatchObject({ id: credential.id, client_id: credential.client_id, name: 'ci bot', is_active: true });
    expect(JSON.stringify(list)).not.toContain(credential.client_secret);

    const res = await grant(credential.client_id, credential.client_secret);
    expect(res.status).toBe(200);
    const token = await json(res);
    const info = await json(await app.request('/oauth2/userinfo', { token: token.access_token }));
    expect(info.email).toBe('robot-owner@tmi.local');
    const basic = await app.request('/oauth2/token', {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${credential.client_id}:${credential.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(basic.status).toBe(200);
    const { rows } = await app.runtime.services.database.pool.query("select count(*)::int as n from events where type = 'ClientCredentialUsed'");
    expect(rows[0].n).toBe(2);
  });

  it('answers a Basic header with broken percent-encoding as a failed client authentication, not a 500', async () => {
    const res = await app.request('/oauth2/token', {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('tmi_cc_%zz:secret%').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: 'invalid_client' });
  });

  it('refuses an expiry the event or PostgreSQL cannot hold, so it never reaches the projection', async () => {
    const res = await app.request('/me/client_credentials', { method: 'POST', token: owner.access_token, json: { name: 'far east', expires_at: '2099-01-01T00:00:00+20:00' } });
    expect(res.status).toBe(400);
    const precise = await app.request('/me/client_credentials', { method: 'POST', token: owner.access_token, json: { name: 'precise', expires_at: `2099-01-01T00:00:00.${'0'.repeat(80)}Z` } });
    expect(precise.status).toBe(400);
    const ok = await app.request('/me/client_credentials', { method: 'POST', token: owner.access_token, json: { name: 'near east', expires_at: '2099-01-01T00:00:00+14:00' } });
    expect(ok.status).toBe(201);
    const { id } = await json(ok);
    expect((await listUntil((ids) => ids.includes(id))).credentials.map((c: { id: string }) => c.id)).toContain(id);
  });

  it('locks a client id after repeated failures (429 with Retry-After), even for the right secret', async () => {
    const credential = await json(await app.request('/me/client_credentials', { method: 'POST', token: owner.access_token, json: { name: 'lockable' } }));
    for (let i = 0; i < 3; i++) {
      const bad = await grant(credential.client_id, 'wrong-secret');
      expect(bad.status).toBe(401);
      expect(await json(bad)).toMatchObject({ error: 'invalid_client' });
    }
    const locked = await grant(credential.client_id, credential.client_secret);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await json(locked)).toMatchObject({ error: 'too_many_requests' });
    const { rows } = await app.runtime.services.database.pool.query("select count(*)::int as n from events where type = 'LoginFailed' and data->>'claimed' = $1", [credential.client_id]);
    expect(rows[0].n).toBe(3);
  });

  it('deleting a credential stops it working; others cannot delete it', async () => {
    const credential = await json(await app.request('/me/client_credentials', { method: 'POST', token: owner.access_token, json: { name: 'short-lived' } }));
    const stranger = await loginWithDevProvider(app, 'stranger');
    expect((await app.request(`/me/client_credentials/${credential.id}`, { method: 'DELETE', token: stranger.access_token })).status).toBe(404);
    expect((await app.request(`/me/client_credentials/${credential.id}`, { method: 'DELETE', token: owner.access_token })).status).toBe(204);
    expect((await grant(credential.client_id, credential.client_secret)).status).toBe(401);
    const list = await listUntil((ids) => !ids.includes(credential.id));
    expect(list.credentials.map((c: { id: string }) => c.id)).not.toContain(credential.id);
  });
});

describe('rate limits', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp({ overrides: { rate_limit: { public_per_minute: 3, auth_per_minute: 2, user_per_minute: 4 } } }); });
  afterAll(async () => { await app?.stop(); });

  it('limits auth endpoints per IP with 429, Retry-After, X-RateLimit-* and the contract error body', async () => {
    const first = await app.request('/oauth2/providers');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    await app.request('/oauth2/providers');
    const limited = await app.request('/oauth2/providers');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(await json(limited)).toMatchObject({ error: 'rate_limit_exceeded', error_description: expect.any(String), details: { code: 'RATE_LIMIT_EXCEEDED', context: { limit: 2 } } });
  });

  it('limits public endpoints per IP and leaves probes alone', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await app.request('/')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    for (let i = 0; i < 5; i++) expect((await app.request('/healthz')).status).toBe(200);
  });

  it('limits signed-in callers per user', async () => {
    const token = app.runtime.services.tokens.issue({ user_id: '0190a000-0000-7000-8000-000000000001', provider: 'tmi', provider_id: 'u', email: 'u@tmi.local', email_verified: true, name: 'u', groups: [], is_admin: false, is_security_reviewer: false }).token;
    const other = app.runtime.services.tokens.issue({ user_id: '0190a000-0000-7000-8000-000000000002', provider: 'tmi', provider_id: 'v', email: 'v@tmi.local', email_verified: true, name: 'v', groups: [], is_admin: false, is_security_reviewer: false }).token;
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await app.request('/.well-known/jwks.json', { token })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    expect((await app.request('/.well-known/jwks.json', { token: other })).status).toBe(200);
  });
});

describe('behind a trusted proxy', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp({ overrides: { server: { trust_proxy: true } } }); });
  afterAll(async () => { await app?.stop(); });

  it('a forwarded address too long for an audit event still gets a 401, not a 500', async () => {
    const res = await app.request('/oauth2/token', {
      method: 'POST',
      headers: { 'x-forwarded-for': `${'f'.repeat(300)}, 10.0.0.1` },
      json: { grant_type: 'client_credentials', client_id: 'tmi_cc_00000000000000000000000000000000', client_secret: 'nope' },
    });
    expect(res.status).toBe(401);
    const { rows } = await app.runtime.services.database.pool.query("select data->>'ip' as ip from events where type = 'LoginFailed'");
    expect(rows.map((r) => r.ip)).toEqual(['f'.repeat(100)]);
  });
});
