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
interface GitHubAccount {
  user: { id: number; login: string; name: string; email: string | null };
  emails: { email: string; primary: boolean; verified: boolean }[];
}
const OCTOCAT: GitHubAccount = {
  user: { id: 583231, login: 'octocat', name: 'The Octocat', email: null },
  emails: [{ email: 'other@example.com', primary: false, verified: true }, { email: 'octocat@github.example', primary: true, verified: true }],
};

async function startFakeGitHub(clientId: string, clientSecret: string) {
  const port = await freePort();
  /** The account GitHub's API describes; tests switch it between logins. */
  const account = { current: OCTOCAT };
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
    if (url.pathname === '/user') return send(200, account.current.user);
    if (url.pathname === '/user/emails') return send(200, account.current.emails);
    send(404, {});
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, account, stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
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

  async function login(): Promise<string> {
    const pkce = pkcePair();
    const authorize = await app.request(`/oauth2/authorize?${new URLSearchParams({ idp: 'github', client_callback: CLIENT_CALLBACK, state: `gh-${Date.now()}`, scope: 'openid profile email', code_challenge: pkce.challenge, code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    const atGitHub = await fetch(authorize.headers.get('location')!, { redirect: 'manual' });
    const back = new URL(atGitHub.headers.get('location')!);
    const callback = await app.request(back.pathname + back.search, { redirect: 'manual' });
    const code = new URL(callback.headers.get('location')!).searchParams.get('code')!;
    const res = await app.request('/oauth2/token?idp=github', { method: 'POST', json: { grant_type: 'authorization_code', code, code_verifier: pkce.verifier, redirect_uri: CLIENT_CALLBACK } });
    expect(res.status).toBe(200);
    return (await json(res)).access_token;
  }
  const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());

  it('an email is verified only when GitHub\'s address list marks that address verified', async () => {
    try {
      // The primary address, verified.
      github.account.current = { user: { id: 1001, login: 'vera', name: 'Vera', email: null }, emails: [{ email: 'vera@github.example', primary: true, verified: true }] };
      expect(claimsOf(await login())).toMatchObject({ email: 'vera@github.example', email_verified: true });
      // The primary address, not (yet) verified.
      github.account.current = { user: { id: 1002, login: 'una', name: 'Una', email: null }, emails: [{ email: 'una@github.example', primary: true, verified: false }, { email: 'una@other.example', primary: false, verified: true }] };
      expect(claimsOf(await login())).toMatchObject({ email: 'una@github.example', email_verified: false });
      // A public profile email is the identity's email, verified only if the list says so.
      github.account.current = { user: { id: 1003, login: 'pia', name: 'Pia', email: 'pia@public.example' }, emails: [{ email: 'pia@github.example', primary: true, verified: true }, { email: 'PIA@public.example', primary: false, verified: true }] };
      expect(claimsOf(await login())).toMatchObject({ email: 'pia@public.example', email_verified: true });
      github.account.current = { user: { id: 1004, login: 'quinn', name: 'Quinn', email: 'quinn@public.example' }, emails: [{ email: 'quinn@github.example', primary: true, verified: true }] };
      expect(claimsOf(await login())).toMatchObject({ email: 'quinn@public.example', email_verified: false });
    } finally {
      github.account.current = OCTOCAT;
    }
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
