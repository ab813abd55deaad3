import { randomBytes } from 'node:crypto';
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { actorOf, anonymous, clientAddress, metadataFor } from '../../auth/audit.js';
import { ClientLockedError } from '../../auth/client-credentials.js';
import { LOGIN_FAILURE_STREAM_TYPE, loginFailureStreamId } from '../../auth/login-failures.js';
import { authModule, type AuthModule, type TokenPair } from '../../auth/module.js';
import { callbackAllowed, newUpstreamChecks, sameCallback, type AuthorizationBinding } from '../../auth/oauth-flow.js';
import { pkceMatches } from '../../auth/pkce.js';
import { devLoginHintProblem, ProviderError, type IdentityProvider } from '../../auth/providers.js';
import type { Principal } from '../../auth/principal.js';
import { principalFromClaims } from '../../auth/tokens.js';
import { RefreshTokenRefused } from '../../commands/tokens/family.js';
import { InvalidClientError } from '../../commands/tokens/client-credential.js';
import { USERS_PROJECTION } from '../../projections/users.js';
import type { Services } from '../../services.js';
import { HttpError, badRequest, unauthorized } from '../errors.js';
import { PUBLIC_ROUTE, principalOf } from '../plugins/authentication.js';
import { setTokenCookies, refreshTokenFromCookie } from '../../auth/cookies.js';
import { CONSOLE_PATH } from './console.js';

const Nullable = <T extends TSchema>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));

export const AuthTokenResponse = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer(),
}, { additionalProperties: false });

const TokenRequest = Type.Object({
  grant_type: Type.Union([Type.Literal('authorization_code'), Type.Literal('client_credentials'), Type.Literal('refresh_token')]),
  code: Nullable(Type.String({ maxLength: 8192 })),
  state: Nullable(Type.String({ maxLength: 256 })),
  redirect_uri: Nullable(Type.String({ maxLength: 1000 })),
  code_verifier: Nullable(Type.String({ pattern: '^[A-Za-z0-9\\-._~]+$', minLength: 43, maxLength: 128 })),
  client_id: Nullable(Type.String({ maxLength: 256 })),
  client_secret: Nullable(Type.String({ maxLength: 256 })),
  refresh_token: Nullable(Type.String({ maxLength: 1024 })),
}, { additionalProperties: false });

const RevocationRequest = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 2000 }),
  // The contract's `nullable` beside its `enum` does not admit null: a hint or none.
  token_type_hint: Type.Optional(Type.Union([Type.Literal('access_token'), Type.Literal('refresh_token')])),
  client_id: Nullable(Type.String({ maxLength: 256 })),
  client_secret: Nullable(Type.String({ maxLength: 256 })),
}, { additionalProperties: false });

const IntrospectionRequest = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 1000 }),
  token_type_hint: Nullable(Type.String({ maxLength: 1000 })),
}, { additionalProperties: false });

const invalidGrant = (description: string) => new HttpError(400, 'invalid_grant', description);
const invalidRequest = (description: string) => badRequest(description, 'invalid_request');
const lockedOut = (err: ClientLockedError) =>
  new HttpError(429, 'too_many_requests', 'Too many failed authentication attempts; retry later', { 'Retry-After': String(err.retryAfterSeconds) });
const invalidClient = () => new HttpError(401, 'invalid_client', 'client authentication failed', { 'WWW-Authenticate': 'Basic realm="tmi"' });

const ICONS: Record<string, string> = { tmi: 'fa-solid fa-user', github: 'fa-brands fa-github', google: 'fa-brands fa-google', microsoft: 'fa-brands fa-microsoft' };

/** Credentials from HTTP Basic (RFC 6749 §2.3.1) or the body. */
function clientCredentialsOf(request: FastifyRequest, body: { client_id?: string | null; client_secret?: string | null }) {
  const header = request.headers.authorization;
  if (typeof header === 'string' && /^Basic\s+/i.test(header)) {
    const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) {
      try {
        return { id: decodeURIComponent(decoded.slice(0, i)), secret: decodeURIComponent(decoded.slice(i + 1)) };
      } catch {
        // Broken percent-encoding names no client we could have issued.
        throw invalidClient();
      }
    }
  }
  return body.client_id && body.client_secret ? { id: body.client_id, secret: body.client_secret } : null;
}

async function recordLoginFailure(services: Services, request: FastifyRequest, provider: string, reason: string, claimed?: string) {
  await services.store.appendToStream({
    stream_id: loginFailureStreamId(), stream_type: LOGIN_FAILURE_STREAM_TYPE, expected: 'no_stream',
    events: [{ type: 'LoginFailed', data: { provider, reason: reason.slice(0, 1000), ip: clientAddress(request), ...(claimed ? { claimed: claimed.slice(0, 500) } : {}) } }],
  }, { metadata: metadataFor(request, anonymous) });
}

function respondTokens(services: Services, reply: FastifyReply, pair: TokenPair) {
  if (services.config.auth.cookies) setTokenCookies(reply, pair, services.config);
  return { access_token: pair.access_token, refresh_token: pair.refresh_token, token_type: pair.token_type, expires_in: pair.expires_in };
}

/** TMI's OAuth 2.0 endpoints: providers, PKCE authorization, callback, token grants, refresh, revocation, introspection. */
export const oauthRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const auth: AuthModule = authModule(services);
  const base = services.config.server.public_url.replace(/\/$/, '');
  const callbackUrl = `${base}/oauth2/callback`;
  // The service's own console signs in through the same flow and returns to itself.
  const callbackAllowlist = [...services.config.auth.oauth.callback_allowlist, `${base}${CONSOLE_PATH}`];

  const providerFor = (id: string | undefined): IdentityProvider => {
    const providerId = id ?? auth.providers.defaultId();
    if (!providerId) throw invalidRequest('Missing required parameter: idp');
    const provider = auth.providers.get(providerId);
    if (provider) return provider;
    throw invalidRequest(`Invalid provider: ${providerId}`);
  };

  app.get('/oauth2/providers', {
    config: PUBLIC_ROUTE,
    schema: {
      tags: ['Authentication'],
      response: {
        200: Type.Object({ providers: Type.Array(Type.Object({
          id: Type.String(), name: Type.String(), icon: Type.String(), auth_url: Type.String(), token_url: Type.String(), redirect_uri: Type.String(), client_id: Type.String(),
        }, { additionalProperties: false })) }, { additionalProperties: false }),
      },
    },
  }, async () => ({
    providers: auth.providers.list().map(({ config: p }) => ({
      id: p.id,
      name: p.name,
      icon: p.icon ?? ICONS[p.kind === 'oidc' ? p.id : p.kind] ?? 'fa-solid fa-right-to-bracket',
      auth_url: `${base}/oauth2/authorize?idp=${encodeURIComponent(p.id)}`,
      token_url: `${base}/oauth2/token?idp=${encodeURIComponent(p.id)}`,
      redirect_uri: callbackUrl,
      client_id: p.client_id ?? `${p.id}-client`,
    })),
  }));

  app.get('/oauth2/authorize', {
    config: PUBLIC_ROUTE,
    schema: {
      tags: ['Authentication'],
      querystring: Type.Object({
        idp: Type.Optional(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_-]*$', maxLength: 100 })),
        client_callback: Type.Optional(Type.String({ maxLength: 1000 })),
        state: Type.Optional(Type.String({ pattern: '^[a-zA-Z0-9_~.+/=-]*$', maxLength: 256 })),
        login_hint: Type.Optional(Type.String({ pattern: '^[a-zA-Z0-9._%+-]+$', maxLength: 254 })),
        scope: Type.String({ pattern: '^[a-zA-Z0-9_][a-zA-Z0-9_ ]*[a-zA-Z0-9_]$', maxLength: 256 }),
        response_type: Type.Optional(Type.Literal('code')),
        code_challenge: Type.String({ pattern: '^[A-Za-z0-9\\-._~]{43,128}$' }),
        // Required, as the contract has it (TMI's own server defaults a missing one); `plain` is refused.
        code_challenge_method: Type.Literal('S256'),
      }),
    },
  }, async (request, reply) => {
    const q = request.query;
    const provider = providerFor(q.idp);
    if (q.client_callback && !callbackAllowed(q.client_callback, callbackAllowlist)) {
      throw invalidRequest('client_callback is not in the allowlist');
    }
    const hintProblem = provider.config.kind === 'tmi' && q.login_hint ? devLoginHintProblem(q.login_hint) : null;
    if (hintProblem) throw invalidRequest(hintProblem);
    const state = q.state || randomBytes(24).toString('base64url');
    const binding: AuthorizationBinding = {
      provider: provider.config.id,
      code_challenge: q.code_challenge,
      upstream: newUpstreamChecks(state, q.login_hint),
      ...(q.client_callback ? { client_callback: q.client_callback } : {}),
    };
    if (provider.config.kind === 'tmi' && q.client_callback) {
      // The dev provider has no login page: the client gets its code straight away, as TMI does.
      const code = await auth.flows.issueCode(binding);
      const target = new URL(q.client_callback);
      target.searchParams.set('code', code);
      target.searchParams.set('state', state);
      return reply.redirect(target.toString(), 302);
    }
    if (!await auth.flows.begin(state, binding)) throw invalidRequest('state is already in use');
    let location: string;
    try {
      location = await provider.authorizationUrl(binding.upstream, callbackUrl);
    } catch (err) {
      request.log.error({ err, provider: provider.config.id }, 'cannot build the provider authorization URL');
      throw new HttpError(502, 'provider_unavailable', 'the identity provider is unavailable');
    }
    return reply.redirect(location, 302);
  });

  app.get('/oauth2/callback', {
    config: PUBLIC_ROUTE,
    schema: {
      tags: ['Authentication'],
      querystring: Type.Object({
        code: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
        state: Type.Optional(Type.String({ maxLength: 256 })),
        error: Type.Optional(Type.String({ maxLength: 256 })),
        error_description: Type.Optional(Type.String({ maxLength: 1000 })),
      }, { additionalProperties: true }),
    },
  }, async (request, reply) => {
    const q = request.query;
    const binding = q.state ? await auth.flows.takeState(q.state) : null;
    if (q.error) {
      await recordLoginFailure(services, request, binding?.provider ?? 'unknown', `provider error: ${q.error}`);
      if (binding?.client_callback) {
        const target = new URL(binding.client_callback);
        target.searchParams.set('error', q.error);
        target.searchParams.set('state', q.state!);
        return reply.redirect(target.toString(), 302);
      }
      throw invalidRequest(`the identity provider refused: ${q.error}`);
    }
    if (!q.code || !q.state) throw invalidRequest('Missing code or state parameter');
    if (!binding) throw invalidRequest('Invalid state parameter');
    if (!binding.client_callback) throw invalidRequest('client_callback URL is required');
    const code = await auth.flows.issueCode({ ...binding, callback_query: new URL(request.url, base).search.slice(1) });
    const target = new URL(binding.client_callback);
    target.searchParams.set('code', code);
    target.searchParams.set('state', q.state);
    return reply.redirect(target.toString(), 302);
  });

  async function authorizationCodeGrant(request: FastifyRequest, idp: string | undefined, body: { code?: string | null; code_verifier?: string | null; redirect_uri?: string | null }) {
    if (!body.code || !body.code_verifier || !body.redirect_uri) throw invalidRequest('Missing required fields for authorization_code grant');
    const binding = await auth.flows.takeCode(body.code);
    if (!binding) throw invalidGrant('Authorization code is invalid or expired');
    if (idp && idp !== binding.provider) throw invalidGrant('the authorization code was issued for another provider');
    const provider = providerFor(binding.provider);
    // The code is already taken, so a mismatch spends it, like a failed PKCE check.
    if (binding.client_callback && !sameCallback(body.redirect_uri, binding.client_callback)) {
      await recordLoginFailure(services, request, binding.provider, 'redirect_uri mismatch', binding.upstream.login_hint);
      throw invalidGrant('redirect_uri does not match the client_callback of the authorization request');
    }
    if (!pkceMatches(body.code_verifier, binding.code_challenge)) {
      await recordLoginFailure(services, request, binding.provider, 'PKCE verification failed', binding.upstream.login_hint);
      throw invalidGrant('PKCE verification failed');
    }
    let identity;
    try {
      identity = await provider.identify(new URL(`${callbackUrl}?${binding.callback_query ?? ''}`), binding.upstream);
    } catch (err) {
      await recordLoginFailure(services, request, binding.provider, (err as Error).message);
      if (err instanceof ProviderError) {
        request.log.warn({ err, provider: binding.provider }, 'identity provider refused the login');
        throw invalidGrant('the identity provider did not confirm the login');
      }
      // Network failures and malformed provider answers are the provider's fault, not the client's.
      request.log.error({ err, provider: binding.provider }, 'identity provider unavailable');
      throw new HttpError(502, 'provider_unavailable', 'the identity provider could not be reached');
    }
    const { user } = await auth.users.login(binding.provider, identity, 'oauth', metadataFor(request, anonymous));
    services.wakeups.wake([USERS_PROJECTION]);
    return auth.issue(user, request);
  }

  async function refreshGrant(request: FastifyRequest, presented: string | null | undefined, failure: (d: string) => HttpError) {
    const token = presented || (services.config.auth.cookies ? refreshTokenFromCookie(request) : null);
    if (!token) throw badRequest('Missing refresh_token parameter', 'invalid_request');
    try {
      const rotated = await auth.refresh.rotate(token, metadataFor(request, anonymous), clientAddress(request));
      const { state: user } = await auth.users.read(rotated.user_id);
      if (user.status !== 'active') throw new RefreshTokenRefused('revoked');
      return await auth.issue(user, request, { refreshToken: rotated.token });
    } catch (err) {
      if (err instanceof RefreshTokenRefused) {
        if (err.reason === 'reused') request.log.warn({ ip: request.ip }, 'refresh token reuse: family revoked');
        throw failure('the refresh token is invalid, expired or revoked');
      }
      throw err;
    }
  }

  async function clientCredentialsGrant(request: FastifyRequest, body: { client_id?: string | null; client_secret?: string | null }) {
    const credentials = clientCredentialsOf(request, body);
    if (!credentials) throw invalidRequest('Missing client_id or client_secret parameter');
    try {
      const { owner_id } = await auth.credentials.authenticate(credentials.id, credentials.secret, metadataFor(request, anonymous), clientAddress(request));
      const { state: owner } = await auth.users.read(owner_id);
      if (owner.status !== 'active') throw new InvalidClientError('deleted');
      return await auth.issue(owner, request, { refreshToken: false, clientId: credentials.id });
    } catch (err) {
      if (err instanceof ClientLockedError) throw lockedOut(err);
      if (err instanceof InvalidClientError) throw invalidClient();
      throw err;
    }
  }

  app.post('/oauth2/token', {
    config: PUBLIC_ROUTE,
    schema: { tags: ['Authentication'], querystring: Type.Object({ idp: Type.Optional(Type.String({ maxLength: 100 })) }), body: TokenRequest, response: { 200: AuthTokenResponse } },
  }, async (request, reply) => {
    const body = request.body;
    const pair = body.grant_type === 'authorization_code' ? await authorizationCodeGrant(request, request.query.idp, body)
      : body.grant_type === 'refresh_token' ? await refreshGrant(request, body.refresh_token, invalidGrant)
        : await clientCredentialsGrant(request, body);
    return respondTokens(services, reply, pair);
  });

  app.post('/oauth2/refresh', {
    config: PUBLIC_ROUTE,
    schema: { tags: ['Authentication'], body: Type.Object({ refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })) }, { additionalProperties: false }), response: { 200: AuthTokenResponse } },
  }, async (request, reply) => {
    const pair = await refreshGrant(request, request.body?.refresh_token, (d) => unauthorized(d, 'invalid_grant'));
    return respondTokens(services, reply, pair);
  });

  // Public in the contract, but it authenticates its caller itself: a bearer token or client credentials (RFC 7009 §2.1).
  app.post('/oauth2/revoke', { config: PUBLIC_ROUTE, schema: { tags: ['Authentication'], body: RevocationRequest } }, async (request, reply) => {
    const body = request.body;
    let authenticated = request.principal !== null;
    const credentials = clientCredentialsOf(request, body);
    if (!authenticated && credentials) {
      try {
        await auth.credentials.authenticate(credentials.id, credentials.secret, metadataFor(request, anonymous), clientAddress(request));
        authenticated = true;
      } catch (err) {
        if (err instanceof ClientLockedError) throw lockedOut(err);
        if (!(err instanceof InvalidClientError)) throw err;
      }
    }
    if (!authenticated) throw unauthorized('a bearer token or client credentials are required');
    const metadata = metadataFor(request, actorOf(request.principal));
    if (body.token.split('.').length === 3) {
      let principal: Principal | null = null;
      try {
        principal = principalFromClaims(services.tokens.verify(body.token));
      } catch (err) {
        // RFC 7009: an invalid or unknown token is not an error worth disclosing.
        request.log.debug({ err }, 'revocation of an unverifiable token ignored');
      }
      if (principal) {
        // A failure to record the revocation is not hidden behind a 200: other instances learn of it only from the event.
        auth.revocations.revokeToken(principal.jti, principal.exp);
        await auth.users.execute(principal.user_id, { type: 'RevokeAccessToken', revocation: { jti: principal.jti, expires_at: principal.exp, reason: 'revoke' } }, metadata);
      }
    } else {
      await auth.refresh.revoke(body.token, 'revoke', metadata);
    }
    return reply.code(200).send({});
  });

  app.post('/oauth2/introspect', {
    config: PUBLIC_ROUTE,
    schema: {
      tags: ['Authentication'],
      // RFC 7662 §2.1: the request is a form, and the contract takes nothing else.
      consumes: ['application/x-www-form-urlencoded'],
      body: IntrospectionRequest,
      response: {
        200: Type.Object({
          active: Type.Boolean(), sub: Type.Optional(Type.String()), email: Type.Optional(Type.String()), name: Type.Optional(Type.String()),
          exp: Type.Optional(Type.Integer()), iat: Type.Optional(Type.Integer()), iss: Type.Optional(Type.String()),
          token_type: Type.Optional(Type.String()), scope: Type.Optional(Type.String()),
        }, { additionalProperties: false }),
      },
    },
  }, async (request) => {
    const token = request.body.token;
    if (token.split('.').length === 3) {
      try {
        const claims = services.tokens.verify(token);
        if (auth.revocations.isRevoked(claims.jti, claims.sub)) return { active: false };
        return { active: true, sub: claims.sub, email: claims.email, name: claims.name, exp: claims.exp, iat: claims.iat, iss: claims.iss, token_type: 'Bearer', scope: 'openid profile email' };
      } catch {
        return { active: false };
      }
    }
    const family = await auth.refresh.inspect(token);
    return family ? { active: true, sub: family.user_id, exp: family.session_expires_at, token_type: 'refresh_token' } : { active: false };
  });

  app.get('/oauth2/userinfo', {
    schema: {
      tags: ['Authentication'],
      response: { 200: Type.Object({ sub: Type.String(), email: Type.Optional(Type.String()), name: Type.Optional(Type.String()), idp: Type.Optional(Type.String()), groups: Type.Optional(Type.Array(Type.String())) }, { additionalProperties: false }) },
    },
  }, async (request) => {
    const p = principalOf(request);
    return { sub: p.user_id, email: p.email, name: p.name, idp: p.provider, groups: p.groups };
  });

  app.get('/oauth2/providers/:idp/groups', {
    schema: {
      tags: ['Authentication'],
      params: Type.Object({ idp: Type.String({ maxLength: 100 }) }),
      response: { 200: Type.Object({ idp: Type.String(), groups: Type.Array(Type.Object({ name: Type.String(), display_name: Type.Optional(Type.String()), used_in_authorizations: Type.Optional(Type.Boolean()) }, { additionalProperties: false })) }, { additionalProperties: false }) },
    },
  }, async (request) => {
    const { idp } = request.params;
    if (!auth.providers.get(idp)) throw new HttpError(404, 'not_found', `unknown identity provider: ${idp}`);
    // Groups the provider has asserted at logins so far; providers offer no portable group listing.
    const { rows } = await services.database.pool.query<{ group_name: string }>(
      'select distinct group_name from user_group_memberships where provider = $1 order by group_name limit 1000', [idp]);
    return { idp, groups: rows.map((r) => ({ name: r.group_name, display_name: r.group_name })) };
  });
};
