import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { CLIENT_CALLBACK, authorizeWithDevProvider, exchangeCode, loginWithDevProvider, pkcePair } from '../helpers/login.js';

describe('tmi development provider', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp(); });
  afterAll(async () => { await app?.stop(); });

  it('is listed by default outside production', async () => {
    const body = await json(await app.request('/oauth2/providers'));
    const tmi = body.providers.find((p: { id: string }) => p.id === 'tmi');
    expect(tmi).toMatchObject({ name: expect.any(String), auth_url: `${app.url}/oauth2/authorize?idp=tmi`, redirect_uri: `${app.url}/oauth2/callback` });
  });

  it('logs in end to end: login_hint becomes <hint>@tmi.local', async () => {
    const tokens = await loginWithDevProvider(app, 'alice');
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.refresh_token).toMatch(/^[a-zA-Z0-9_.-]+$/);
    const me = await json(await app.request('/me', { token: tokens.access_token }));
    expect(me).toMatchObject({ principal_type: 'user', provider: 'tmi', provider_id: 'alice', email: 'alice@tmi.local', display_name: 'alice', is_admin: false });
    const info = await json(await app.request('/oauth2/userinfo', { token: tokens.access_token }));
    expect(info).toMatchObject({ email: 'alice@tmi.local', idp: 'tmi', sub: expect.any(String) });
  });

  it('a login_hint too long to make an email address is refused at authorize, not a 500 at the token exchange', async () => {
    const longest = 'a'.repeat(254 - '@tmi.local'.length);
    const tokens = await loginWithDevProvider(app, longest);
    expect((await json(await app.request('/me', { token: tokens.access_token }))).email).toBe(`${longest}@tmi.local`);
    const { challenge } = pkcePair();
    const query = new URLSearchParams({ idp: 'tmi', client_callback: 'http://127.0.0.1:8079/cb', login_hint: `${longest}a`, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' });
    const res = await app.request(`/oauth2/authorize?${query}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: 'invalid_request' });
  });

  it('a login_hint that would not make an email by the contract\'s format: email is refused at authorize', async () => {
    // Each matches the contract's hint pattern; `<hint>@tmi.local` would be in every body naming the user.
    for (const hint of ['dot.', '.dot', 'dou..ble', '.']) {
      const query = new URLSearchParams({ idp: 'tmi', client_callback: 'http://127.0.0.1:8079/cb', login_hint: hint, scope: 'openid', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
      const res = await app.request(`/oauth2/authorize?${query}`, { redirect: 'manual' });
      expect(res.status, hint).toBe(400);
      expect(await json(res)).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('login_hint') });
    }
    const tokens = await loginWithDevProvider(app, 'first.last+tag');
    expect((await json(await app.request('/me', { token: tokens.access_token }))).email).toBe('first.last+tag@tmi.local');
  });

  it('a second login finds the same user', async () => {
    const a = await loginWithDevProvider(app, 'bob');
    const b = await loginWithDevProvider(app, 'bob');
    const subA = (await json(await app.request('/oauth2/userinfo', { token: a.access_token }))).sub;
    const subB = (await json(await app.request('/oauth2/userinfo', { token: b.access_token }))).sub;
    expect(subA).toBe(subB);
  });

  it('concurrent first logins of one identity create one user', async () => {
    const logins = await Promise.all(Array.from({ length: 6 }, () => loginWithDevProvider(app, 'racer')));
    const subs = await Promise.all(logins.map(async (t) => (await json(await app.request('/oauth2/userinfo', { token: t.access_token }))).sub));
    expect(new Set(subs).size).toBe(1);
    const { rows } = await app.runtime.services.database.pool.query("select count(*)::int as n from events where type = 'UserRegistered' and data->>'provider_user_id' = 'racer'");
    expect(rows[0].n).toBe(1);
  });

  it('refuses a code_verifier that does not match the challenge, and the code is spent', async () => {
    const { code } = await authorizeWithDevProvider(app, 'mallory');
    const wrong = await exchangeCode(app, code, pkcePair().verifier);
    expect(wrong.status).toBe(400);
    expect(await json(wrong)).toMatchObject({ error: 'invalid_grant' });
    const { rows } = await app.runtime.services.database.pool.query("select count(*)::int as n from events where type = 'LoginFailed' and data->>'reason' = 'PKCE verification failed'");
    expect(rows[0].n).toBeGreaterThanOrEqual(1);
  });

  it('refuses a redirect_uri other than the client_callback of the authorization, and the code is spent', async () => {
    const { code, pkce } = await authorizeWithDevProvider(app, 'eve');
    const exchange = (redirect_uri: string) => app.request('/oauth2/token?idp=tmi', { method: 'POST', json: { grant_type: 'authorization_code', code, code_verifier: pkce.verifier, redirect_uri } });
    const wrong = await exchange('http://127.0.0.1:8079/elsewhere');
    expect(wrong.status).toBe(400);
    expect(await json(wrong)).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
    expect((await exchange(CLIENT_CALLBACK)).status).toBe(400);
  });

  it('matches redirect_uri with client_callback as parsed URLs, like the allowlist', async () => {
    const { challenge, verifier } = pkcePair();
    const authorize = await app.request(`/oauth2/authorize?${new URLSearchParams({ idp: 'tmi', login_hint: 'walker', scope: 'openid', state: 'xyz', client_callback: 'http://localhost:8079/', code_challenge: challenge, code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    expect(authorize.status).toBe(302);
    const code = new URL(authorize.headers.get('location')!).searchParams.get('code')!;
    const res = await app.request('/oauth2/token', { method: 'POST', json: { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'HTTP://LOCALHOST:8079' } });
    expect(res.status).toBe(200);
  });

  it('a code is single use', async () => {
    const { code, pkce } = await authorizeWithDevProvider(app, 'carol');
    expect((await exchangeCode(app, code, pkce.verifier)).status).toBe(200);
    const again = await exchangeCode(app, code, pkce.verifier);
    expect(again.status).toBe(400);
  });

  it('refuses plain PKCE, a missing method (the contract requires it) and a client_callback outside the allowlist', async () => {
    const { challenge } = pkcePair();
    const noMethod = await app.request(`/oauth2/authorize?idp=tmi&scope=openid&code_challenge=${challenge}&client_callback=http://127.0.0.1:8079/cb`, { redirect: 'manual' });
    expect(noMethod.status).toBe(400);
    expect(await json(noMethod)).toMatchObject({ error: expect.any(String), error_description: expect.stringMatching(/code_challenge_method/) });
    const plain = await app.request(`/oauth2/authorize?idp=tmi&scope=openid&code_challenge=${challenge}&code_challenge_method=plain&client_callback=http://127.0.0.1:8079/cb`, { redirect: 'manual' });
    expect(plain.status).toBe(400);
    const evil = await app.request(`/oauth2/authorize?idp=tmi&scope=openid&code_challenge=${challenge}&code_challenge_method=S256&client_callback=https://evil.example/cb`, { redirect: 'manual' });
    expect(evil.status).toBe(400);
    expect(await json(evil)).toMatchObject({ error: 'invalid_request' });
  });

  it('defaults idp to the dev provider, as TMI does outside production, and refuses unknown providers', async () => {
    const { challenge } = pkcePair();
    const noIdp = await app.request(`/oauth2/authorize?scope=openid&login_hint=dflt&code_challenge=${challenge}&code_challenge_method=S256&client_callback=http://127.0.0.1:8079/cb`, { redirect: 'manual' });
    expect(noIdp.status).toBe(302);
    expect(new URL(noIdp.headers.get('location')!).searchParams.get('code')).toBeTruthy();
    const unknown = await app.request(`/oauth2/authorize?idp=nope&scope=openid&code_challenge=${challenge}&code_challenge_method=S256&client_callback=http://127.0.0.1:8079/cb`, { redirect: 'manual' });
    expect(unknown.status).toBe(400);
    expect(await json(unknown)).toMatchObject({ error: 'invalid_request' });
  });

  it('accepts a form-encoded token request', async () => {
    const { code, pkce } = await authorizeWithDevProvider(app, 'dave');
    const res = await app.request('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: pkce.verifier, redirect_uri: 'http://127.0.0.1:8079/callback' }).toString(),
    });
    expect(res.status).toBe(200);
  });
});

describe('tmi provider in production mode', () => {
  it('cannot be configured', () => {
    expect(() => loadConfig({ env: {}, overrides: { mode: 'production', auth: { jwt: { secret: 'x'.repeat(40) }, oauth: { providers: [{ id: 'tmi', name: 'TMI', kind: 'tmi' }] } } } })).toThrow(/tmi development provider/);
  });

  it('is not enabled by default', () => {
    const config = loadConfig({ env: {}, overrides: { mode: 'production', auth: { jwt: { secret: 'x'.repeat(40) } } } });
    expect(config.auth.oauth.providers).toEqual([]);
  });
});
