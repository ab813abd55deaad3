import { createPublicKey, randomUUID } from 'node:crypto';
import { createSigner, createVerifier } from 'fast-jwt';
import type { Config } from '../config/schema.js';
import type { Principal } from './principal.js';

/** The claims TMI puts in its access tokens. */
export interface AccessTokenClaims {
  sub: string;
  email: string;
  email_verified: boolean;
  name: string;
  idp: string;
  provider_id: string;
  groups: string[];
  tmi_is_administrator: boolean;
  tmi_is_security_reviewer: boolean;
  /** Only on tokens a client-credentials grant issued. */
  client_id?: string;
  iss: string;
  aud: string;
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
}

export interface TokenService {
  readonly algorithm: string;
  readonly issuer: string;
  readonly expiresInSeconds: number;
  issue(subject: Omit<Principal, 'jti' | 'exp'>): { token: string; claims: AccessTokenClaims };
  /** Verifies signature, algorithm, issuer, audience and time claims; throws on any failure. */
  verify(token: string): AccessTokenClaims;
  /** Public keys for /.well-known/jwks.json (empty for HMAC). */
  jwks(): { keys: Record<string, unknown>[] };
}

export function createTokenService(config: Config): TokenService {
  const jwt = config.auth.jwt;
  const issuer = jwt.issuer ?? config.server.public_url;
  const symmetric = jwt.algorithm === 'HS256';
  if (!symmetric && (!jwt.private_key || !jwt.public_key)) {
    throw new Error(`auth.jwt.private_key and auth.jwt.public_key are required for ${jwt.algorithm}`);
  }
  const signKey = symmetric ? jwt.secret : jwt.private_key!;
  const verifyKey = symmetric ? jwt.secret : jwt.public_key!;
  const sign = createSigner({ key: signKey, algorithm: jwt.algorithm, kid: symmetric ? undefined : jwt.key_id });
  // Only the configured algorithm is accepted: `none` and algorithm confusion are refused by construction.
  const verify = createVerifier({ key: verifyKey, algorithms: [jwt.algorithm], allowedIss: issuer, allowedAud: jwt.audience, requiredClaims: ['sub', 'exp', 'iat', 'jti'], clockTolerance: 5 });
  return {
    algorithm: jwt.algorithm,
    issuer,
    expiresInSeconds: jwt.expiration_seconds,
    issue(subject) {
      const now = Math.floor(Date.now() / 1000);
      const claims: AccessTokenClaims = {
        sub: subject.user_id,
        email: subject.email,
        email_verified: subject.email_verified,
        name: subject.name,
        idp: subject.provider,
        provider_id: subject.provider_id,
        groups: subject.groups,
        tmi_is_administrator: subject.is_admin,
        tmi_is_security_reviewer: subject.is_security_reviewer,
        ...(subject.client_id !== undefined ? { client_id: subject.client_id } : {}),
        iss: issuer,
        aud: jwt.audience,
        iat: now,
        nbf: now,
        exp: now + jwt.expiration_seconds,
        jti: randomUUID(),
      };
      return { token: sign(claims), claims };
    },
    verify(token) {
      return verify(token) as AccessTokenClaims;
    },
    jwks() {
      if (symmetric) return { keys: [] };
      const jwk = createPublicKey(verifyKey).export({ format: 'jwk' }) as Record<string, unknown>;
      return { keys: [{ ...jwk, kid: jwt.key_id, use: 'sig', alg: jwt.algorithm }] };
    },
  };
}

export function principalFromClaims(claims: AccessTokenClaims): Principal {
  return {
    user_id: claims.sub,
    provider: claims.idp,
    provider_id: claims.provider_id ?? claims.email,
    email: claims.email,
    // Absent (a token of another issuer's shape) is unverified.
    email_verified: claims.email_verified === true,
    name: claims.name,
    groups: Array.isArray(claims.groups) ? claims.groups : [],
    is_admin: claims.tmi_is_administrator === true,
    is_security_reviewer: claims.tmi_is_security_reviewer === true,
    ...(typeof claims.client_id === 'string' ? { client_id: claims.client_id } : {}),
    jti: claims.jti,
    exp: claims.exp,
  };
}
