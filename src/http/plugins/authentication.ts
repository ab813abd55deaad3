import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Principal } from '../../auth/principal.js';
import { principalFromClaims, type TokenService } from '../../auth/tokens.js';
import { cookieValue } from '../../auth/cookies.js';
import { authModule } from '../../auth/module.js';
import type { Services } from '../../services.js';
import { unauthorized } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller; null when no token was presented. */
    principal: Principal | null;
  }
}

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
  return [async (principal) => {
    if (await auth.denylist.isDenied(principal.jti, principal.user_id)) throw unauthorized('the access token has been revoked', 'invalid_token');
  }];
}

function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    // HTTP Basic carries client credentials to the OAuth endpoints (RFC 6749 §2.3.1); it is not a caller identity.
    if (/^Basic\s/i.test(header)) return null;
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw unauthorized('the Authorization header must be "Bearer <token>"', 'invalid_token');
    return m[1]!;
  }
  return null;
}

/** Verifies a bearer token when one is presented and sets `request.principal`. */
export const authenticationPlugin = fp(async (app: FastifyInstance, options: AuthenticationOptions) => {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const token = bearerToken(request) ?? (options.cookieName ? cookieValue(request, options.cookieName) : null);
    if (!token) return;
    let principal: Principal;
    try {
      principal = principalFromClaims(options.tokens.verify(token));
    } catch (err) {
      request.log.debug({ err }, 'access token refused');
      throw unauthorized('the access token is invalid or expired', 'invalid_token');
    }
    for (const check of options.checks ?? []) await check(principal, request);
    request.principal = principal;
  });
}, { name: 'authentication' });

/** preHandler for routes that need a signed-in caller. */
export async function requireUser(request: FastifyRequest): Promise<void> {
  if (!request.principal) throw unauthorized();
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthorized();
  return request.principal;
}
