import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { CLIENT_CALLBACK, pkcePair } from '../helpers/login.js';
import { freePort } from '../helpers/ports.js';

/**
 * A stand-in for github.com's OAuth endpoints and REST API on loopback (the real one is out of
 * reach of tests): it checks PKCE and the client secret like GitHub does.
 */
async function startFakeGitHub(clientId: string, clientSecret: string) {
  const port = await freePort();
  const codes = new Map<string, string>();
  const tokens = new Set<string>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, `http://127.0.0.1:${port}`);
    const send = (status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
    if (url.pathname === '/login/oauth/authorize') {
      const code = randomBytes(8).toString('hex');
      codes.set(code, url.searchParams.get('code_challenge')!);
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state')!);
      res.writeHead(302, { location: back.toString() });
      res.end();
      return;
    }
    if (url.pathname === '/login/oauth/access_token') {
      let raw = '';
      req.on('data', (d) => { raw += d; }).on('end', () => {
        const form = new URLSearchParams(raw);
        const basic = req.headers.authorization?.startsWith('Basic ') ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString().split(':').map(decodeURIComponent) : null;
        const [id, secret] = basic ?? [form.get('client_id'), form.get('client_secret')];
        const challenge = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        const verifier = form.get('code_verifier') ?? '';
        if (id !== clientId || secret !== clientSecret || !challenge || createHash('sha256').update(verifier).digest('base64url') !== challenge) {
          send(400, { error: 'bad_verification_code' });
          return;
        }
        const token = `gho_${randomBytes(8).toString('hex')}`;
        tokens.add(token);
        send(200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' });
      });
      return;
    }
    if (!tokens.has(req.headers.authorization?.replace('Bearer ', '') ?? '')) return send(401, { message: 'Bad credentials' });
    if (url.pathname === '/user') return send(200, { id: 583231, login: 'octocat', name: 'The Octocat', email: null });
    if (url.pathname === '/user/emails') return send(200, [{ email: 'other@example.com', primary: false, verified: true }, { email: 'octocat@github.example', primary: true, verified: true }]);
    send(404, {});
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

describe('GitHub (plain OAuth 2.0 with its user API)', () => {
  let github: Awaited<ReturnType<typeof startFakeGitHub>>;
  let app: TestApp;
  beforeAll(async () => {
    github = await startFakeGitHub('gh-client', 'gh-secret');
    app = await startTestApp({
      overrides: {
        auth: {
          cookies: true,
          oauth: { providers: [{ id: 'github', name: 'GitHub', kind: 'github', client_id: 'gh-client', client_secret: 'gh-secret', authorization_url: `${github.url}/login/oauth/authorize`, token_url: `${github.url}/login/oauth/access_token`, userinfo_url: `${github.url}/user` }] },
        },
      },
    });
  });
  afterAll(async () => {
    await app?.stop();
    await github?.stop();
  });

  it('logs in with the primary email and the numeric GitHub id; sets TMI cookies when enabled', async () => {
    const pkce = pkcePair();
    const authorize = await app.request(`/oauth2/authorize?${new URLSearchParams({ idp: 'github', client_callback: CLIENT_CALLBACK, state: 'gh-state', scope: 'openid profile email', code_challenge: pkce.challenge, code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    expect(authorize.status).toBe(302);
    const atGitHub = await fetch(authorize.headers.get('location')!, { redirect: 'manual' });
    const back = new URL(atGitHub.headers.get('location')!);
    const callback = await app.request(back.pathname + back.search, { redirect: 'manual' });
    const code = new URL(callback.headers.get('location')!).searchParams.get('code')!;
    const res = await app.request('/oauth2/token?idp=github', { method: 'POST', json: { grant_type: 'authorization_code', code, code_verifier: pkce.verifier, redirect_uri: CLIENT_CALLBACK } });
    expect(res.status).toBe(200);
    const cookies = res.headers.getSetCookie();
    expect(cookies.find((c) => c.startsWith('tmi_access_token='))).toMatch(/HttpOnly; SameSite=Lax/);
    expect(cookies.find((c) => c.startsWith('tmi_refresh_token='))).toMatch(/Path=\/oauth2;.*HttpOnly; SameSite=Strict/);
    const tokens = await json(res);
    const me = await json(await app.request('/me', { token: tokens.access_token }));
    expect(me).toMatchObject({ provider: 'github', provider_id: '583231', email: 'octocat@github.example', display_name: 'The Octocat' });

    // The access-token cookie alone authenticates, and the refresh cookie alone refreshes.
    const accessCookie = cookies.find((c) => c.startsWith('tmi_access_token='))!.split(';')[0]!;
    expect((await app.request('/me', { headers: { cookie: accessCookie } })).status).toBe(200);
    const refreshCookie = cookies.find((c) => c.startsWith('tmi_refresh_token='))!.split(';')[0]!;
    expect((await app.request('/oauth2/refresh', { method: 'POST', headers: { cookie: refreshCookie }, json: {} })).status).toBe(200);
  });
});
