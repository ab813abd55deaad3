import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Principal } from '../../auth/principal.js';
import { principalFromClaims, type TokenService } from '../../auth/tokens.js';
import { cookieValue } from '../../auth/cookies.js';
import { authModule } from '../../auth/module.js';
import type { Services } from '../../services.js';
import { HttpError, invalidToken, unauthorized } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller; null when no token was presented (possible on public routes only). */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** The route answers callers without a token (the contract's `x-public-endpoint` / empty `security`). */
    public?: boolean;
  }
}

/**
 * Route `config` of every route that needs no token: the operations the contract marks
 * `x-public-endpoint` (or with an empty `security`), and the operational endpoints outside the
 * contract (probes, metrics, the API documents). Every other route, and every unknown one,
 * requires a valid token.
 */
export const PUBLIC_ROUTE = { public: true } as const;

export interface AuthenticationOptions {
  tokens: TokenService;
  /** Extra checks on a verified token (revocation); throw an HttpError to refuse. */
  checks?: ((principal: Principal, request: FastifyRequest) => Promise<void>)[];
  /** When set, an access token in this cookie is accepted where no Authorization header is sent. */
  cookieName?: string;
}

/** The checks every verified token must also pass: not revoked (logout, RFC 7009 revocation, deletion). */
export function authenticationChecks(services: Services): NonNullable<AuthenticationOptions['checks']> {
  const auth = authModule(services);
  // In memory, no I/O: neither a Redis nor a PostgreSQL outage signs anyone out (src/auth/revocations.ts).
  return [async (principal) => {
    if (auth.revocations.isRevoked(principal.jti, principal.user_id)) throw invalidToken('the access token has been revoked');
  }];
}

function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    // HTTP Basic carries client credentials to the OAuth endpoints (RFC 6749 §2.3.1); it is not a caller identity.
    if (/^Basic\s/i.test(header)) return null;
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw invalidToken('the Authorization header must be "Bearer <token>"');
    return m[1]!;
  }
  return null;
}

async function verifiedPrincipal(request: FastifyRequest, options: AuthenticationOptions): Promise<Principal | null> {
  const token = bearerToken(request) ?? (options.cookieName ? cookieValue(request, options.cookieName) : null);
  if (!token) return null;
  let principal: Principal;
  try {
    principal = principalFromClaims(options.tokens.verify(token));
  } catch (err) {
    request.log.debug({ err }, 'access token refused');
    throw invalidToken('the access token is invalid or expired');
  }
  for (const check of options.checks ?? []) await check(principal, request);
  return principal;
}

/**
 * Authentication before anything else, as TMI does it: in an `onRequest` hook of every request
 * (only CORS preflights are answered earlier), before the unknown-route answer, body parsing,
 * parameter validation and the rate limit, a request to a route that is not public (or to no
 * route at all) without a valid token is answered 401. Only a caller with a valid token
 * learns that a route does not exist (404) or that its input is malformed (400).
 *
 * On a public route a token is optional, and one that fails verification is ignored rather
 * than refused, as TMI does not authenticate public paths at all: a client that refreshes
 * while its expired access token is still in the header must get its new tokens. A valid one
 * still identifies the caller there (per-user rate limits, RFC 7009 revocation).
 */
export const authenticationPlugin = fp(async (app: FastifyInstance, options: AuthenticationOptions) => {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public === true) {
      request.principal = await verifiedPrincipal(request, options).catch((err: unknown) => {
        if (err instanceof HttpError) return null;
        throw err;
      });
      return;
    }
    const principal = await verifiedPrincipal(request, options);
    if (!principal) throw unauthorized();
    request.principal = principal;
  });
}, { name: 'authentication' });

/** Routes outside the contract that some plugin registers (the API documentation UI): every route of the scope is public. */
export function markRoutesPublic(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => { route.config = { ...route.config, ...PUBLIC_ROUTE }; });
}

/** preHandler for routes that need a signed-in caller; behind the authentication hook it only restates that guarantee. */
export async function requireUser(request: FastifyRequest): Promise<void> {
  if (!request.principal) throw unauthorized();
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthorized();
  return request.principal;
}
