import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { CLIENT_CALLBACK, pkcePair } from '../helpers/login.js';
import { startOidcIssuer, type TestIssuer } from '../helpers/oidc-issuer.js';
import { freePort } from '../helpers/ports.js';

describe('login against a real OpenID Connect issuer', () => {
  let issuer: TestIssuer;
  let app: TestApp;

  beforeAll(async () => {
    // The issuer registers the app's callback, and the app knows the issuer's URL: fix the issuer's
    // port first; the app discovers the issuer lazily, at the first authorization.
    const issuerPort = await freePort();
    app = await startTestApp({
      overrides: {
        auth: { oauth: { providers: [{ id: 'corp', name: 'Corp SSO', kind: 'oidc', issuer: `http://127.0.0.1:${issuerPort}`, client_id: 'tmi-test-client', client_secret: 'tmi-test-secret-0123456789abcdef', scopes: ['openid', 'profile', 'email', 'groups'] }] } },
      },
    });
    issuer = await startOidcIssuer(`${app.url}/oauth2/callback`, issuerPort);
  });
  afterAll(async () => {
    await app?.stop();
    await issuer?.stop();
  });

  async function login(pkce = pkcePair()) {
    const state = 'st-' + Math.random().toString(36).slice(2);
    const query = new URLSearchParams({ idp: 'corp', client_callback: CLIENT_CALLBACK, state, scope: 'openid profile email', code_challenge: pkce.challenge, code_challenge_method: 'S256' });
    const authorize = await app.request(`/oauth2/authorize?${query}`, { redirect: 'manual' });
    expect(authorize.status).toBe(302);
    const toIssuer = authorize.headers.get('location')!;
    expect(toIssuer.startsWith(issuer.url)).toBe(true);
    const authorizeUrl = new URL(toIssuer);
    expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');
    // Our own upstream PKCE, never the client's challenge.
    expect(authorizeUrl.searchParams.get('code_challenge')).not.toBe(pkce.challenge);
    const backAtApp = await issuer.browse(toIssuer);
    expect(backAtApp.pathname).toBe('/oauth2/callback');
    const callback = await app.request(backAtApp.pathname + backAtApp.search, { redirect: 'manual' });
    expect(callback.status).toBe(302);
    const atClient = new URL(callback.headers.get('location')!);
    expect(atClient.href.startsWith(CLIENT_CALLBACK)).toBe(true);
    expect(atClient.searchParams.get('state')).toBe(state);
    return { code: atClient.searchParams.get('code')!, pkce };
  }

  it('publishes the provider', async () => {
    const body = await json(await app.request('/oauth2/providers'));
    expect(body.providers.map((p: { id: string }) => p.id)).toEqual(['corp']);
  });

  it('discovery, authorization code with PKCE, token exchange, userinfo and refresh', async () => {
    issuer.loginAs({ sub: 'emp-42', email: 'erin@corp.example', name: 'Erin Example', groups: ['engineering', 'security-champions'] });
    const { code, pkce } = await login();
    const res = await app.request('/oauth2/token?idp=corp', { method: 'POST', json: { grant_type: 'authorization_code', code, code_verifier: pkce.verifier, redirect_uri: CLIENT_CALLBACK } });
    expect(res.status).toBe(200);
    const tokens = await json(res);
    const info = await json(await app.request('/oauth2/userinfo', { token: tokens.access_token }));
    expect(info).toMatchObject({ email: 'erin@corp.example', name: 'Erin Example', idp: 'corp', groups: ['engineering', 'security-champions'] });
    const me = await json(await app.request('/me', { token: tokens.access_token }));
    expect(me).toMatchObject({ provider: 'corp', provider_id: 'emp-42', email: 'erin@corp.example' });
    const groups = await json(await app.request('/me/groups', { token: tokens.access_token }));
    expect(groups.groups.map((g: { group_name: string }) => g.group_name)).toEqual(['everyone', 'engineering', 'security-champions']);

    const refreshed = await app.request('/oauth2/refresh', { method: 'POST', json: { refresh_token: tokens.refresh_token } });
    expect(refreshed.status).toBe(200);
    const next = await json(refreshed);
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    expect((await app.request('/oauth2/userinfo', { token: next.access_token })).status).toBe(200);
  });

  it('an identity with an overlong or unstorable name or group logs in with them trimmed, not a 500', async () => {
    issuer.loginAs({ sub: 'emp-44', email: 'gina@corp.example', name: 'G'.repeat(300), groups: ['ok-group', 'x'.repeat(300), 'nul\u0000group'] });
    const { code, pkce } = await login();
    const res = await app.request('/oauth2/token?idp=corp', { method: 'POST', json: { grant_type: 'authorization_code', code, code_verifier: pkce.verifier, redirect_uri: CLIENT_CALLBACK } });
    expect(res.status).toBe(200);
    const info = await json(await app.request('/oauth2/userinfo', { token: (await json(res)).access_token }));
    expect(info).toMatchObject({ email: 'gina@corp.example', name: 'G'.repeat(256), groups: ['ok-group'] });

    issuer.loginAs({ sub: 'emp-45', email: 'hal@corp.example', name: 'Hal\u0000 \ud800' });
    const next = await login();
    const res2 = await app.request('/oauth2/token?idp=corp', { method: 'POST', json: { grant_type: 'authorization_code', code: next.code, code_verifier: next.pkce.verifier, redirect_uri: CLIENT_CALLBACK } });
    expect(res2.status).toBe(200);
    expect((await json(await app.request('/oauth2/userinfo', { token: (await json(res2)).access_token }))).name).toBe('Hal\uFFFD \uFFFD');
  });

  it('refuses a verifier that does not match the client challenge', async () => {
    issuer.loginAs({ sub: 'emp-43', email: 'frank@corp.example', name: 'Frank' });
    const { code } = await login();
    const res = await app.request('/oauth2/token?idp=corp', { method: 'POST', json: { grant_type: 'authorization_code', code, code_verifier: pkcePair().verifier, redirect_uri: CLIENT_CALLBACK } });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: 'invalid_grant' });
  });

  it('a replayed callback state is refused', async () => {
    issuer.loginAs({ sub: 'emp-44', email: 'gina@corp.example', name: 'Gina' });
    const pkce = pkcePair();
    const query = new URLSearchParams({ idp: 'corp', client_callback: CLIENT_CALLBACK, state: 'replay-me', scope: 'openid', code_challenge: pkce.challenge, code_challenge_method: 'S256' });
    const authorize = await app.request(`/oauth2/authorize?${query}`, { redirect: 'manual' });
    const backAtApp = await issuer.browse(authorize.headers.get('location')!);
    expect((await app.request(backAtApp.pathname + backAtApp.search, { redirect: 'manual' })).status).toBe(302);
    const replay = await app.request(backAtApp.pathname + backAtApp.search, { redirect: 'manual' });
    expect(replay.status).toBe(400);
  });

  it('a refusal at the provider reaches the client as an error and is recorded', async () => {
    const pkce = pkcePair();
    const query = new URLSearchParams({ idp: 'corp', client_callback: CLIENT_CALLBACK, state: 'denied-state', scope: 'openid', code_challenge: pkce.challenge, code_challenge_method: 'S256' });
    expect((await app.request(`/oauth2/authorize?${query}`, { redirect: 'manual' })).status).toBe(302);
    const res = await app.request('/oauth2/callback?error=access_denied&state=denied-state', { redirect: 'manual' });
    expect(res.status).toBe(302);
    const atClient = new URL(res.headers.get('location')!);
    expect(Object.fromEntries(atClient.searchParams)).toEqual({ error: 'access_denied', state: 'denied-state' });
    const { rows } = await app.runtime.services.database.pool.query("select data from events where type = 'LoginFailed' and data->>'provider' = 'corp'");
    expect(rows.map((r) => r.data.reason)).toContain('provider error: access_denied');
  });
});
