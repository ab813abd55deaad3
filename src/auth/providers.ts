import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import type { Config, ProviderConfig } from '../config/schema.js';
import { isContractEmail } from '../commands/threat-models/values.js';
import { isStorableText, mendText } from '../infra/storable-text.js';

/** Who the identity provider says the user is. */
export interface ProviderIdentity {
  provider_user_id: string;
  email: string;
  name: string;
  email_verified: boolean;
  groups: string[];
}

/** What the server remembers between sending the browser to the provider and the code exchange. */
export interface UpstreamChecks {
  state: string;
  /** Our own PKCE verifier towards the provider (separate from the client's). */
  code_verifier: string;
  nonce: string;
  login_hint?: string;
}

export interface IdentityProvider {
  readonly config: ProviderConfig;
  authorizationUrl(checks: UpstreamChecks, redirectUri: string): Promise<string>;
  /** Exchanges the provider's code (from the callback query) and returns the user's identity. */
  identify(callbackUrl: URL, checks: UpstreamChecks): Promise<ProviderIdentity>;
}

export class ProviderError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'ProviderError';
  }
}

const PRESET_ISSUERS: Record<string, string> = {
  google: 'https://accounts.google.com',
};

const stringClaim = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

function groupsFrom(claims: Record<string, unknown>, claim: string): string[] {
  const v = claims[claim];
  if (Array.isArray(v)) return v.filter((g): g is string => typeof g === 'string').slice(0, 1000);
  if (typeof v === 'string' && v) return v.split(/[ ,]+/).filter(Boolean);
  return [];
}

const DEV_EMAIL_DOMAIN = '@tmi.local';
/** The dev provider's users are `<hint>@tmi.local`; a longer hint would make an email beyond RFC 5321's 254 characters. */
export const MAX_DEV_LOGIN_HINT = 254 - DEV_EMAIL_DOMAIN.length;

/**
 * Why a login_hint cannot name a dev provider user, or null when it can. The contract's hint
 * pattern takes `a.`, `.a` or `a..b`, but `<hint>@tmi.local` must be an email by the contract's
 * `format: email` (the user's email is in every body that names them), and folding such a hint
 * into another would hand one user another's verified address.
 */
export function devLoginHintProblem(hint: string): string | null {
  if (hint.length > MAX_DEV_LOGIN_HINT) return `login_hint may be at most ${MAX_DEV_LOGIN_HINT} characters with the tmi provider`;
  if (!isContractEmail(`${hint}${DEV_EMAIL_DOMAIN}`)) return 'login_hint must make an email address with the tmi provider: no leading, trailing or doubled dot';
  return null;
}

/** The built-in development provider: `login_hint` names the user; no secrets, no network. */
function tmiProvider(config: ProviderConfig): IdentityProvider {
  return {
    config,
    async authorizationUrl(checks, redirectUri) {
      const url = new URL(redirectUri);
      url.searchParams.set('code', randomBytes(24).toString('base64url'));
      url.searchParams.set('state', checks.state);
      return url.toString();
    },
    async identify(_callbackUrl, checks) {
      const hint = checks.login_hint ?? `user-${randomBytes(4).toString('hex')}`;
      // Verified: the provider mints the address itself in its own domain (a hint has no `@`); it names no one else's mailbox.
      return { provider_user_id: hint, email: `${hint}${DEV_EMAIL_DOMAIN}`, name: hint, email_verified: true, groups: [] };
    },
  };
}

/** Any OpenID Connect issuer, configured by discovery; code flow with PKCE and nonce. */
function oidcProvider(config: ProviderConfig): IdentityProvider {
  const issuer = config.issuer ?? PRESET_ISSUERS[config.id];
  // Microsoft's multi-tenant `common` document names a templated issuer that no ID token carries, so a tenant is required.
  if (!issuer && config.id === 'microsoft') throw new ProviderError('provider microsoft: set issuer to https://login.microsoftonline.com/<tenant-id>/v2.0');
  if (!issuer) throw new ProviderError(`provider ${config.id}: issuer is required`);
  if (!config.client_id) throw new ProviderError(`provider ${config.id}: client_id is required`);
  let discovered: Promise<oidc.Configuration> | null = null;
  const configuration = () => {
    discovered ??= oidc.discovery(new URL(issuer), config.client_id!, config.client_secret, undefined,
      issuer.startsWith('http://') ? { execute: [oidc.allowInsecureRequests] } : undefined)
      .catch((err: unknown) => {
        // A provider that was down at the first login must not stay broken until restart.
        discovered = null;
        throw new ProviderError(`provider ${config.id}: discovery failed`, err);
      });
    return discovered;
  };
  return {
    config,
    async authorizationUrl(checks, redirectUri) {
      const cfg = await configuration();
      return oidc.buildAuthorizationUrl(cfg, {
        redirect_uri: redirectUri,
        scope: config.scopes.join(' '),
        state: checks.state,
        nonce: checks.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.code_verifier),
        code_challenge_method: 'S256',
      }).toString();
    },
    async identify(callbackUrl, checks) {
      const cfg = await configuration();
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(cfg, callbackUrl, { pkceCodeVerifier: checks.code_verifier, expectedState: checks.state, expectedNonce: checks.nonce, idTokenExpected: true });
      } catch (err) {
        throw new ProviderError(`provider ${config.id}: code exchange failed: ${(err as Error).message}`, err);
      }
      const idClaims = (tokens.claims() ?? {}) as Record<string, unknown>;
      const sub = String(idClaims.sub);
      let info: Record<string, unknown> = {};
      if (cfg.serverMetadata().userinfo_endpoint) {
        info = await oidc.fetchUserInfo(cfg, tokens.access_token, sub) as Record<string, unknown>;
      }
      const all = { ...idClaims, ...info };
      // The email and its verification come from one claim set, never one from each: an issuer's
      // userinfo may name another address than its id token, and only its own email_verified speaks for it.
      // Where both name the same address, either set's assertion does (Entra ID's userinfo sends none).
      const emailSource = stringClaim(info.email) ? info : idClaims;
      const email = stringClaim(emailSource.email);
      if (!email) throw new ProviderError(`provider ${config.id}: the identity has no email`);
      const sameAddress = stringClaim(idClaims.email)?.toLowerCase() === email.toLowerCase();
      return {
        provider_user_id: sub,
        email,
        name: stringClaim(all.name) ?? stringClaim(all.preferred_username) ?? email,
        // Only an explicit assertion verifies; some issuers (Cognito's userinfo) send it as the string "true". Absent is unverified.
        email_verified: asserted(emailSource.email_verified) || (sameAddress && asserted(idClaims.email_verified)),
        groups: groupsFrom(all, config.groups_claim ?? 'groups'),
      };
    },
  };
}

const asserted = (claim: unknown) => claim === true || claim === 'true';

interface GitHubEmail { email: string; primary: boolean; verified: boolean }

/** GitHub's `/user/emails` list; anything else is a malformed answer. */
function githubEmails(body: unknown): GitHubEmail[] {
  if (!Array.isArray(body)) throw new ProviderError('GitHub: /user/emails is not a list');
  return body.filter((e): e is GitHubEmail => typeof e === 'object' && e !== null && typeof (e as GitHubEmail).email === 'string');
}

/** GitHub speaks plain OAuth 2.0: identity comes from its REST API, not an ID token. */
function githubProvider(config: ProviderConfig): IdentityProvider {
  if (!config.client_id) throw new ProviderError(`provider ${config.id}: client_id is required`);
  const authorization = config.authorization_url ?? 'https://github.com/login/oauth/authorize';
  const api = config.userinfo_url ?? 'https://api.github.com/user';
  const cfg = new oidc.Configuration({
    issuer: 'https://github.com',
    authorization_endpoint: authorization,
    token_endpoint: config.token_url ?? 'https://github.com/login/oauth/access_token',
  }, config.client_id, config.client_secret);
  if (authorization.startsWith('http://')) oidc.allowInsecureRequests(cfg);
  const get = async (url: string, token: string) => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'user-agent': 'tmi-es' } });
    if (!res.ok) throw new ProviderError(`provider ${config.id}: ${url} answered ${res.status}`);
    return res.json() as Promise<unknown>;
  };
  return {
    config,
    async authorizationUrl(checks, redirectUri) {
      return oidc.buildAuthorizationUrl(cfg, {
        redirect_uri: redirectUri,
        scope: config.scopes.filter((s) => s !== 'openid' && s !== 'profile' && s !== 'email').concat('read:user', 'user:email').join(' '),
        state: checks.state,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.code_verifier),
        code_challenge_method: 'S256',
      }).toString();
    },
    async identify(callbackUrl, checks) {
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(cfg, callbackUrl, { pkceCodeVerifier: checks.code_verifier, expectedState: checks.state });
      } catch (err) {
        throw new ProviderError(`provider ${config.id}: code exchange failed: ${(err as Error).message}`, err);
      }
      const user = await get(api, tokens.access_token) as { id: number; login: string; name?: string | null; email?: string | null };
      const publicEmail = user.email || undefined;
      // The profile's public email, if any, else the primary address; either way it is verified only when
      // GitHub's address list (scope user:email) marks that very address verified. Without a public email
      // the list is required; with one, a list we may not read leaves it unverified instead of refusing the login.
      const emails = await get(`${api}/emails`, tokens.access_token).then(githubEmails, (err: unknown) => {
        if (publicEmail) return [];
        throw err;
      });
      const email = publicEmail ?? (emails.find((e) => e.primary) ?? emails[0])?.email;
      if (!email) throw new ProviderError(`provider ${config.id}: the GitHub account has no email`);
      const verified = emails.some((e) => e.verified === true && e.email.toLowerCase() === email.toLowerCase());
      return { provider_user_id: String(user.id), email, name: user.name || user.login, email_verified: verified, groups: [] };
    },
  };
}

/**
 * What a provider says, bounded to what the user events hold (UserRegistered, UserLoggedIn):
 * an overlong or unstorable name is trimmed or mended and such a group dropped; an email or
 * subject no event could hold refuses the login. Otherwise one odd claim would fail every
 * login with a 500.
 */
function bounded(config: ProviderConfig, identity: ProviderIdentity): ProviderIdentity {
  if (identity.email.length > 254 || !isStorableText(identity.email)) throw new ProviderError(`provider ${config.id}: the email address cannot be stored`);
  if (identity.provider_user_id.length > 500 || !isStorableText(identity.provider_user_id)) throw new ProviderError(`provider ${config.id}: the subject cannot be stored`);
  return {
    ...identity,
    name: mendText(identity.name).slice(0, 256),
    groups: identity.groups.filter((g) => g.length <= 256 && isStorableText(g)).slice(0, 1000),
  };
}

export interface ProviderRegistry {
  get(id: string): IdentityProvider | undefined;
  list(): IdentityProvider[];
  /** TMI defaults `idp` to the dev provider outside production. */
  defaultId(): string | undefined;
}

export function createProviderRegistry(config: Config): ProviderRegistry {
  const providers = new Map<string, IdentityProvider>();
  for (const p of config.auth.oauth.providers) {
    if (!p.enabled) continue;
    if (p.kind === 'tmi' && config.mode === 'production') continue;
    const provider = p.kind === 'tmi' ? tmiProvider(p) : p.kind === 'github' ? githubProvider(p) : oidcProvider(p);
    providers.set(p.id, { ...provider, identify: async (callbackUrl, checks) => bounded(p, await provider.identify(callbackUrl, checks)) });
  }
  return {
    get: (id) => providers.get(id),
    list: () => [...providers.values()],
    defaultId: () => (config.mode !== 'production' ? [...providers.values()].find((p) => p.config.kind === 'tmi')?.config.id : undefined),
  };
}
