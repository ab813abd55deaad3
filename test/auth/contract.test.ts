import { afterAll, beforeAll, describe, it } from 'vitest';
import { assertConforms } from '../contract/contract.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { loginWithDevProvider, type Tokens } from '../helpers/login.js';

describe('identity endpoints conform to the TMI contract', () => {
  let app: TestApp;
  let tokens: Tokens;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { auth: { administrators: [{ provider: 'tmi', subject: 'contract-admin' }] } } });
    tokens = await loginWithDevProvider(app, 'contract-admin');
  });
  afterAll(async () => { await app?.stop(); });

  async function check(method: string, contractPath: string, path: string, status: number, init: Parameters<TestApp['request']>[1] = {}) {
    const res = await app.request(path, { method, ...init });
    const text = await res.text();
    if (res.status !== status) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
    assertConforms(method, contractPath, status, text ? JSON.parse(text) : undefined);
    return text ? JSON.parse(text) : undefined;
  }

  it('OAuth endpoints', async () => {
    await check('GET', '/oauth2/providers', '/oauth2/providers', 200);
    await check('GET', '/oauth2/userinfo', '/oauth2/userinfo', 200, { token: tokens.access_token });
    await check('GET', '/oauth2/userinfo', '/oauth2/userinfo', 401);
    await check('POST', '/oauth2/introspect', '/oauth2/introspect', 200, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${tokens.access_token}` });
    const refreshed = await check('POST', '/oauth2/refresh', '/oauth2/refresh', 200, { json: { refresh_token: tokens.refresh_token } });
    await check('POST', '/oauth2/token', '/oauth2/token', 200, { json: { grant_type: 'refresh_token', refresh_token: refreshed.refresh_token } });
    await check('POST', '/oauth2/revoke', '/oauth2/revoke', 200, { token: tokens.access_token, json: { token: 'nothing-to-see' } });
    await check('GET', '/oauth2/providers/{idp}/groups', '/oauth2/providers/tmi/groups', 200, { token: tokens.access_token });
  });

  it('discovery documents', async () => {
    for (const p of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/jwks.json', '/.well-known/oauth-protected-resource']) {
      await check('GET', p, p, 200);
    }
  });

  it('/me endpoints', async () => {
    const fresh = await loginWithDevProvider(app, 'contract-admin');
    const t = { token: fresh.access_token };
    await check('GET', '/me', '/me', 200, t);
    const groups = await check('GET', '/me/groups', '/me/groups', 200, t);
    await check('GET', '/me/groups/{group_id}/members', `/me/groups/${groups.groups[0].internal_uuid}/members`, 200, t);
    await check('GET', '/me/preferences', '/me/preferences', 200, t);
    await check('POST', '/me/preferences', '/me/preferences', 201, { ...t, json: { ui: { theme: 'dark' } } });
    await check('PUT', '/me/preferences', '/me/preferences', 200, { ...t, json: { ui: { theme: 'light' } } });
    await check('POST', '/me/client_credentials', '/me/client_credentials', 201, { ...t, json: { name: 'contract' } });
    await check('GET', '/me/client_credentials', '/me/client_credentials', 200, t);
    await check('DELETE', '/me', '/me', 200, t);
    await check('POST', '/me/logout', '/me/logout', 204, t);
  });
});
