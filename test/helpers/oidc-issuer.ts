import http from 'node:http';
import Provider from 'oidc-provider';
import { freePort } from './ports.js';

export interface TestAccount {
  sub: string;
  email: string;
  name: string;
  groups?: string[];
  /** The issuer's `email_verified` claim: true unless given; null leaves the claim out; a string is sent as such. */
  email_verified?: boolean | string | null;
  /** Claims the id token says otherwise than userinfo (an issuer may differ between the two). */
  id_token?: Record<string, unknown>;
}

export interface TestIssuer {
  url: string;
  clientId: string;
  clientSecret: string;
  /** The account the next login interaction signs in as, from a fresh browser (no earlier session). */
  loginAs(account: TestAccount): void;
  /**
   * Plays the browser: follows redirects from `start` through the issuer's login and consent
   * interactions (answered by this helper, not a person) until the redirect leaves the issuer.
   */
  browse(start: string): Promise<URL>;
  stop(): Promise<void>;
}

/** A real OpenID Connect issuer (oidc-provider) on a loopback port, with non-interactive login and consent. */
export async function startOidcIssuer(redirectUri: string, port?: number): Promise<TestIssuer> {
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  const accounts = new Map<string, TestAccount>();
  let next: TestAccount = { sub: 'oidc-user-1', email: 'user1@example.com', name: 'User One' };
  const clientId = 'tmi-test-client';
  const clientSecret = 'tmi-test-secret-0123456789abcdef';

  const provider = new Provider(url, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'] }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'profile', 'email', 'groups'],
    features: { devInteractions: { enabled: false } },
    // Like Google's or Entra's, the id token carries the scopes' claims too, not only userinfo.
    conformIdTokenClaims: false,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['oidc-test-cookie-key-0123456789'] },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    async findAccount(_ctx, id) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return {
        accountId: id,
        async claims(use: string) {
          const verified = account.email_verified === undefined ? true : account.email_verified;
          const claims = { sub: id, email: account.email, ...(verified === null ? {} : { email_verified: verified }), name: account.name, groups: account.groups ?? [] };
          return use === 'id_token' ? { ...claims, ...account.id_token } : claims;
        },
      };
    },
  });

  async function interaction(req: http.IncomingMessage, res: http.ServerResponse) {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      accounts.set(next.sub, next);
      return provider.interactionFinished(req, res, { login: { accountId: next.sub } }, { mergeWithLastSubmission: false });
    }
    const accountId = details.session!.accountId;
    const grant = details.grantId ? (await provider.Grant.find(details.grantId))! : new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  const callback = provider.callback();
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      interaction(req, res).catch((err: Error) => { res.statusCode = 500; res.end(err.message); });
      return;
    }
    callback(req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  const jar = new Map<string, string>();
  return {
    url,
    clientId,
    clientSecret,
    // A fresh browser: the issuer's session cookie would otherwise sign the previous account in again.
    loginAs(account) { next = account; jar.clear(); },
    async browse(start) {
      let target = new URL(start);
      for (let hop = 0; hop < 20; hop++) {
        if (target.origin !== url) return target;
        const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
        const res = await fetch(target, { redirect: 'manual', headers: cookie ? { cookie } : {} });
        for (const c of res.headers.getSetCookie()) {
          const [pair] = c.split(';');
          const i = pair!.indexOf('=');
          jar.set(pair!.slice(0, i), pair!.slice(i + 1));
        }
        const location = res.headers.get('location');
        if (!location) throw new Error(`issuer answered ${res.status} without a redirect: ${await res.text()}`);
        target = new URL(location, target);
      }
      throw new Error('too many redirects at the issuer');
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
