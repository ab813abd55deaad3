import { randomUUID } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import type { TestApp } from '../helpers/app.js';

/**
 * Authorization headers no route may take as a caller: malformed, garbage, and tokens that are
 * well formed but must not verify (expired, another issuer or audience, unsigned, tampered). On a
 * route that is not public each is answered 401 with the error body; a public one ignores them.
 */
export function badAuthorizations(app: TestApp, validToken: string): Record<string, string> {
  const jwt = app.config.auth.jwt;
  const sign = createSigner({ key: jwt.algorithm === 'HS256' ? jwt.secret : jwt.private_key!, algorithm: jwt.algorithm, ...(jwt.algorithm === 'HS256' ? {} : { kid: jwt.key_id }) });
  const issuer = app.runtime.services.tokens.issuer;
  const now = Math.floor(Date.now() / 1000);
  const claims = (extra: Record<string, unknown>) => ({
    sub: '00000000-0000-4000-8000-0000000000ff', email: 'forged@tmi.local', email_verified: true, name: 'Forged', idp: 'tmi', provider_id: 'forged@tmi.local',
    groups: [], tmi_is_administrator: true, tmi_is_security_reviewer: false, iss: issuer, aud: jwt.audience, iat: now, nbf: now, exp: now + 600, jti: randomUUID(), ...extra,
  });
  const [header, payload] = validToken.split('.');
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims({}))).toString('base64url')}.`;
  return {
    'no scheme': validToken,
    'empty bearer': 'Bearer ',
    'other scheme': `Token ${validToken}`,
    'basic credentials': `Basic ${Buffer.from('client:secret').toString('base64')}`,
    garbage: 'Bearer not-a-token',
    'two tokens': `Bearer ${validToken} ${validToken}`,
    expired: `Bearer ${sign(claims({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 }))}`,
    'not yet valid': `Bearer ${sign(claims({ nbf: now + 3600, exp: now + 7200 }))}`,
    'wrong issuer': `Bearer ${sign(claims({ iss: 'https://issuer.example' }))}`,
    'wrong audience': `Bearer ${sign(claims({ aud: 'someone-else' }))}`,
    'no jti': `Bearer ${sign(claims({ jti: undefined }))}`,
    unsigned: `Bearer ${unsigned}`,
    tampered: `Bearer ${header}.${Buffer.from(JSON.stringify(claims({}))).toString('base64url')}.${validToken.split('.')[2]}`,
    truncated: `Bearer ${header}.${payload}`,
  };
}
