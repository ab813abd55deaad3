import { randomUUID } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { assertErrorBody } from '../contract/contract.js';
import { loginWithDevProvider } from '../helpers/login.js';

const now = () => Math.floor(Date.now() / 1000);

describe('access and refresh tokens', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp(); });
  afterAll(async () => { await app?.stop(); });

  const claims = (over: Record<string, unknown> = {}) => ({
    sub: randomUUID(), email: 'x@tmi.local', email_verified: true, name: 'x', idp: 'tmi', provider_id: 'x', groups: [],
    tmi_is_administrator: false, tmi_is_security_reviewer: false, iss: app.config.server.public_url, aud: 'tmi',
    iat: now(), nbf: now(), exp: now() + 600, jti: randomUUID(), ...over,
  });
  const sign = (payload: Record<string, unknown>, key = app.config.auth.jwt.secret, algorithm: 'HS256' | 'HS512' = 'HS256') =>
    createSigner({ key, algorithm })(payload);
  const status = async (token: string) => (await app.request('/oauth2/userinfo', { token })).status;

  it('accepts a well-formed token signed with the configured key', async () => {
    expect(await status(sign(claims()))).toBe(200);
  });

  it('refuses expired, not-yet-valid, wrong-signature, alg none and wrong-algorithm tokens', async () => {
    expect(await status(sign(claims({ exp: now() - 120, iat: now() - 720, nbf: now() - 720 })))).toBe(401);
    expect(await status(sign(claims({ nbf: now() + 300 })))).toBe(401);
    expect(await status(sign(claims(), 'another-secret-that-is-long-enough-0123456789'))).toBe(401);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`;
    expect(await status(unsigned)).toBe(401);
    expect(await status(sign(claims(), app.config.auth.jwt.secret, 'HS512'))).toBe(401);
    expect(await status(sign(claims({ iss: 'https://elsewhere.example' })))).toBe(401);
    expect(await status(sign(claims({ aud: 'someone-else' })))).toBe(401);
    // TMI's body says `unauthorized`; the RFC 6750 code is in the challenge.
    for (const token of ['not-a-jwt', sign(claims({ exp: now() - 120, iat: now() - 720, nbf: now() - 720 }))]) {
      const res = await app.request('/oauth2/userinfo', { token });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(await json(res)).toEqual({ error: 'unauthorized', error_description: expect.any(String) });
    }
  });

  it('a public route ignores a token it cannot accept, as TMI does not authenticate public paths', async () => {
    const tokens = await loginWithDevProvider(app, 'stale-header');
    const expired = sign(claims({ exp: now() - 120, iat: now() - 720, nbf: now() - 720 }));
    // A client refreshing while its expired access token is still in the header gets its new tokens.
    const refreshed = await app.request('/oauth2/refresh', { method: 'POST', token: expired, json: { refresh_token: tokens.refresh_token } });
    expect(refreshed.status).toBe(200);
    expect((await app.request('/oauth2/providers', { token: 'not-a-jwt' })).status).toBe(200);
    // A non-public route still refuses it.
    expect((await app.request('/me', { token: expired })).status).toBe(401);
  });

  it('logout revokes the presented access token until it expires', async () => {
    const tokens = await loginWithDevProvider(app, 'logout-user');
    expect(await status(tokens.access_token)).toBe(200);
    expect((await app.request('/me/logout', { method: 'POST', token: tokens.access_token })).status).toBe(204);
    const refused = await app.request('/oauth2/userinfo', { token: tokens.access_token });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await json(refused)).toEqual({ error: 'unauthorized', error_description: expect.any(String) });
    const { rows } = await app.runtime.services.database.pool.query("select data from events where type = 'AccessTokenRevoked' and data->>'reason' = 'logout'");
    expect(rows.length).toBe(1);
  });

  it('rotates refresh tokens; reusing a spent one revokes the whole family and is recorded', async () => {
    const first = await loginWithDevProvider(app, 'rotator');
    const r1 = await app.request('/oauth2/token', { method: 'POST', json: { grant_type: 'refresh_token', refresh_token: first.refresh_token } });
    expect(r1.status).toBe(200);
    const second = await json(r1);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(await status(second.access_token)).toBe(200);

    const reuse = await app.request('/oauth2/refresh', { method: 'POST', json: { refresh_token: first.refresh_token } });
    expect(reuse.status).toBe(401);
    // The thief's reuse also burns the legitimate holder's current token.
    const after = await app.request('/oauth2/refresh', { method: 'POST', json: { refresh_token: second.refresh_token } });
    expect(after.status).toBe(401);
    const { rows } = await app.runtime.services.database.pool.query(
      "select type from events where stream_id = $1 order by version", [`token-family-${second.refresh_token.split('.')[0].replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5')}`]);
    expect(rows.map((r) => r.type)).toEqual(['RefreshTokenIssued', 'RefreshTokenRotated', 'RefreshTokenReuseDetected', 'TokenFamilyRevoked']);
  });

  it('concurrent refreshes of one token: exactly one wins', async () => {
    const tokens = await loginWithDevProvider(app, 'racer-refresh');
    const results = await Promise.all(Array.from({ length: 5 }, () => app.request('/oauth2/refresh', { method: 'POST', json: { refresh_token: tokens.refresh_token } })));
    expect(results.filter((r) => r.status === 200).length).toBe(1);
  });

  it('refuses garbage and unknown refresh tokens with 401 (refresh) and 400 (token endpoint)', async () => {
    expect((await app.request('/oauth2/refresh', { method: 'POST', json: { refresh_token: 'nonsense' } })).status).toBe(401);
    const forged = `${randomUUID().replaceAll('-', '')}.${'A'.repeat(43)}`;
    const res = await app.request('/oauth2/token', { method: 'POST', json: { grant_type: 'refresh_token', refresh_token: forged } });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: 'invalid_grant' });
  });

  it('RFC 7009 revocation of access and refresh tokens; RFC 7662 introspection', async () => {
    const tokens = await loginWithDevProvider(app, 'revoker');
    const introspect = async (token: string) => json(await app.request('/oauth2/introspect', {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }).toString(),
    }));
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true, email: 'revoker@tmi.local', token_type: 'Bearer' });
    expect(await introspect(tokens.refresh_token)).toMatchObject({ active: true, token_type: 'refresh_token' });
    expect(await introspect('garbage')).toEqual({ active: false });

    expect((await app.request('/oauth2/revoke', { method: 'POST', json: { token: tokens.refresh_token } })).status).toBe(401);
    const revokeRefresh = await app.request('/oauth2/revoke', { method: 'POST', token: tokens.access_token, json: { token: tokens.refresh_token, token_type_hint: 'refresh_token' } });
    expect(revokeRefresh.status).toBe(200);
    // A hint is one of the two or none: the contract's enum does not admit null.
    const nullHint = await app.request('/oauth2/revoke', { method: 'POST', token: tokens.access_token, json: { token: tokens.access_token, token_type_hint: null } });
    expect(nullHint.status).toBe(400);
    const nullHintError = await json(nullHint);
    assertErrorBody(nullHintError);
    expect(nullHintError.error_description).toMatch(/token_type_hint/);
    expect(await status(tokens.access_token)).toBe(200);
    expect(await json(revokeRefresh)).toEqual({});
    expect((await app.request('/oauth2/refresh', { method: 'POST', json: { refresh_token: tokens.refresh_token } })).status).toBe(401);
    // The event names who revoked (their ids and name, as the audit trail shows them), and nothing else of their token (groups, token id, expiry).
    const { rows } = await app.runtime.services.database.pool.query(
      "select metadata->'actor' as actor from events where type = 'TokenFamilyRevoked' and metadata->'actor'->>'email' = 'revoker@tmi.local'");
    expect(rows).toHaveLength(1);
    expect(Object.keys(rows[0].actor).sort()).toEqual(['display_name', 'email', 'provider', 'provider_id', 'user_id']);

    expect((await app.request('/oauth2/revoke', { method: 'POST', token: tokens.access_token, json: { token: tokens.access_token } })).status).toBe(200);
    expect(await status(tokens.access_token)).toBe(401);
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
    // Unknown tokens are "revoked" too, without disclosure.
    const other = await loginWithDevProvider(app, 'revoker2');
    expect((await app.request('/oauth2/revoke', { method: 'POST', token: other.access_token, json: { token: 'unknown-token' } })).status).toBe(200);
  });

  it('introspection takes only the form (RFC 7662, the contract): a JSON or text body is a 415 with the error body, whatever token it names', async () => {
    const tokens = await loginWithDevProvider(app, 'introspector');
    const bodies = [
      { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: tokens.access_token }) },
      { headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ token: tokens.access_token }) },
      { headers: { 'content-type': 'text/plain' }, body: `token=${tokens.access_token}` },
    ];
    for (const sent of bodies) {
      const res = await app.request('/oauth2/introspect', { method: 'POST', ...sent });
      expect(res.status, sent.headers['content-type']).toBe(415);
      const body = await json(res);
      assertErrorBody(body);
      expect(body.error).toBe('unsupported_media_type');
    }
    // The form still answers, with the form's charset parameter too.
    const form = await app.request('/oauth2/introspect', {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: new URLSearchParams({ token: tokens.access_token }).toString(),
    });
    expect(await json(form)).toMatchObject({ active: true, email: 'introspector@tmi.local' });
    // The published document says what the route takes.
    const published = await json(await app.request('/openapi.json'));
    expect(Object.keys(published.paths['/oauth2/introspect'].post.requestBody.content)).toEqual(['application/x-www-form-urlencoded']);
  });

  it('serves discovery documents and a JWKS', async () => {
    const oidc = await json(await app.request('/.well-known/openid-configuration'));
    expect(oidc).toMatchObject({ issuer: app.config.server.public_url, token_endpoint: `${app.url}/oauth2/token`, code_challenge_methods_supported: ['S256'] });
    const as = await json(await app.request('/.well-known/oauth-authorization-server'));
    expect(as.grant_types_supported).toEqual(['authorization_code', 'refresh_token', 'client_credentials']);
    expect(await json(await app.request('/.well-known/jwks.json'))).toEqual({ keys: [] });
    const pr = await json(await app.request('/.well-known/oauth-protected-resource'));
    expect(pr).toMatchObject({ resource: app.url, authorization_servers: [app.config.server.public_url] });
  });
});

describe('revocation without Redis', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp({ redis: false }); });
  afterAll(async () => { await app?.stop(); });

  it('logs in with OAuth state in PostgreSQL; a logout is the revocation event alone', async () => {
    const tokens = await loginWithDevProvider(app, 'embedded-user');
    expect((await app.request('/me', { token: tokens.access_token })).status).toBe(200);
    expect((await app.request('/me/logout', { method: 'POST', token: tokens.access_token })).status).toBe(204);
    expect((await app.request('/me', { token: tokens.access_token })).status).toBe(401);
    const { pool } = app.runtime.services.database;
    const { rows } = await pool.query("select count(*)::int as n from events where type = 'AccessTokenRevoked' and metadata->'actor'->>'email' = 'embedded-user@tmi.local'");
    expect(rows[0].n).toBe(1);
    // Nothing of the revocation lives in the short-lived auth state.
    expect((await pool.query("select 1 from auth_ephemeral where key like 'denied%'")).rowCount).toBe(0);
  });
});

describe('asymmetric signing', () => {
  let app: TestApp;
  beforeAll(async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    app = await startTestApp({ overrides: { auth: { jwt: { algorithm: 'ES256', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), public_key: publicKey.export({ type: 'spki', format: 'pem' }) } } } });
  });
  afterAll(async () => { await app?.stop(); });

  it('publishes the key and refuses an HMAC token made with the public key (algorithm confusion)', async () => {
    const jwks = await json(await app.request('/.well-known/jwks.json'));
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', alg: 'ES256', use: 'sig', kid: 'tmi-key-1' });
    const tokens = await loginWithDevProvider(app, 'ec-user');
    expect((await app.request('/oauth2/userinfo', { token: tokens.access_token })).status).toBe(200);
    const header = JSON.parse(Buffer.from(tokens.access_token.split('.')[0]!, 'base64url').toString());
    expect(header.alg).toBe('ES256');
    const confused = createSigner({ key: app.config.auth.jwt.public_key!, algorithm: 'HS256' })({
      sub: randomUUID(), iss: app.config.server.public_url, aud: 'tmi', exp: now() + 600, iat: now(), jti: randomUUID(),
    });
    expect((await app.request('/oauth2/userinfo', { token: confused })).status).toBe(401);
  });
});
