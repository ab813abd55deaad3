import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import type { EphemeralStore } from './ephemeral.js';
import type { UpstreamChecks } from './providers.js';

/** What `/oauth2/authorize` remembers under the state, and `/oauth2/callback` moves under our code. */
export interface AuthorizationBinding {
  provider: string;
  client_callback?: string;
  code_challenge: string;
  upstream: UpstreamChecks;
  /** The provider's callback query, replayed to the token exchange (code, state, iss). */
  callback_query?: string;
}

const TTL_SECONDS = 600;

export function newUpstreamChecks(state: string, loginHint?: string): UpstreamChecks {
  return { state, code_verifier: oidc.randomPKCECodeVerifier(), nonce: oidc.randomNonce(), ...(loginHint ? { login_hint: loginHint } : {}) };
}

/** Pending authorizations and issued codes; each is consumed exactly once. */
export class AuthorizationFlows {
  constructor(private readonly store: EphemeralStore) {}

  begin(state: string, binding: AuthorizationBinding): Promise<boolean> {
    return this.store.putNew(`oauth-state:${state}`, JSON.stringify(binding), TTL_SECONDS);
  }

  async takeState(state: string): Promise<AuthorizationBinding | null> {
    const raw = await this.store.take(`oauth-state:${state}`);
    return raw ? JSON.parse(raw) as AuthorizationBinding : null;
  }

  /** Issues our own single-use code for the client; the provider's code never leaves the server. */
  async issueCode(binding: AuthorizationBinding): Promise<string> {
    const code = randomBytes(32).toString('base64url');
    await this.store.put(`oauth-code:${code}`, JSON.stringify(binding), TTL_SECONDS);
    return code;
  }

  async takeCode(code: string): Promise<AuthorizationBinding | null> {
    const raw = await this.store.take(`oauth-code:${code}`);
    return raw ? JSON.parse(raw) as AuthorizationBinding : null;
  }
}

/**
 * TMI's allowlist: a client callback must start with one of the configured prefixes. The
 * parsed URL is checked, since that is where the redirect goes (the parser drops tabs and
 * newlines, so the text as sent can differ from it).
 */
export function callbackAllowed(callback: string, allowlist: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(callback);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (url.username || url.password) return false;
  return allowlist.some((prefix) => underPrefix(url.href, prefix));
}

/**
 * RFC 6749 §4.1.3: the token request's redirect_uri must be the callback the code was issued
 * for. Compared as parsed URLs, as the allowlist does, since that is where the code was sent.
 */
export function sameCallback(presented: string, issuedFor: string): boolean {
  try {
    return new URL(presented).href === new URL(issuedFor).href;
  } catch {
    return false;
  }
}

function underPrefix(href: string, prefix: string): boolean {
  if (!href.startsWith(prefix)) return false;
  const authorityStart = prefix.indexOf('//');
  const namesPath = authorityStart >= 0 && prefix.indexOf('/', authorityStart + 2) >= 0;
  if (namesPath || prefix.endsWith(':')) return true;
  // A prefix that stops inside the host or port must not admit `app.example.com.evil.net` or port 42001 for 4200.
  const next = href.charAt(prefix.length);
  return next === '/' || next === ':';
}
