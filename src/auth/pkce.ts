import { createHash, timingSafeEqual } from 'node:crypto';

/** RFC 7636 S256: the only method accepted (`plain` would let an intercepted code be redeemed). */
export function pkceMatches(verifier: string, challenge: string): boolean {
  const computed = Buffer.from(createHash('sha256').update(verifier).digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}
