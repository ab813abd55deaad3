/**
 * Members whose value is credential material, by name: the refresh tokens' and client secrets'
 * hashes (`token_hash`, `previous_hash`, `presented_hash`, `secret_hash`), an access token's id
 * (`jti`: enough to name the token in a revocation) and anything a later event might call a
 * secret, token, password, verifier or key. Matched by name rather than listed per event type so
 * that a new event type carrying such a member is covered without anyone remembering this file.
 * `authorization` (a threat model's access list) is not credential material and does not match.
 */
const CREDENTIAL_MEMBER = /(secret|token|hash|passw|jti|verifier|private_key|api_key|cookie)/i;

export const REDACTED = '[redacted]';

/** The value with every credential member, at any depth, replaced by REDACTED; the input is not changed. */
export function redactCredentials(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactCredentials);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, CREDENTIAL_MEMBER.test(k) ? REDACTED : redactCredentials(v)]));
}
