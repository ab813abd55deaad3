import { createHash, randomBytes } from 'node:crypto';
import type { TestApp } from './app.js';

export const CLIENT_CALLBACK = 'http://127.0.0.1:8079/callback';

export interface Pkce { verifier: string; challenge: string }

export function pkcePair(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface Tokens { access_token: string; refresh_token: string; token_type: string; expires_in: number }

/** `/oauth2/authorize` up to the redirect to the client callback; returns the code and state it carried. */
export async function authorizeWithDevProvider(app: TestApp, hint: string, pkce: Pkce = pkcePair(), idp = 'tmi'): Promise<{ code: string; state: string; pkce: Pkce }> {
  const state = randomBytes(12).toString('base64url');
  const query = new URLSearchParams({ idp, client_callback: CLIENT_CALLBACK, state, login_hint: hint, scope: 'openid profile email', code_challenge: pkce.challenge, code_challenge_method: 'S256' });
  const res = await app.request(`/oauth2/authorize?${query}`, { redirect: 'manual' });
  if (res.status !== 302) throw new Error(`authorize answered ${res.status}: ${await res.text()}`);
  const location = new URL(res.headers.get('location')!);
  if (!location.href.startsWith(CLIENT_CALLBACK)) throw new Error(`unexpected redirect ${location.href}`);
  if (location.searchParams.get('state') !== state) throw new Error('state was not echoed');
  return { code: location.searchParams.get('code')!, state, pkce };
}

export async function exchangeCode(app: TestApp, code: string, verifier: string, idp = 'tmi'): Promise<Response> {
  return app.request(`/oauth2/token?idp=${idp}`, { method: 'POST', json: { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CLIENT_CALLBACK } });
}

/** Logs in through the real dev-provider flow (authorize → code → token exchange with PKCE). */
export async function loginWithDevProvider(app: TestApp, hint: string): Promise<Tokens> {
  const { code, pkce } = await authorizeWithDevProvider(app, hint);
  const res = await exchangeCode(app, code, pkce.verifier);
  if (res.status !== 200) throw new Error(`token exchange answered ${res.status}: ${await res.text()}`);
  return await res.json() as Tokens;
}
