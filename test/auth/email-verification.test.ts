import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { CLIENT_CALLBACK, exchangeCode, pkcePair } from '../helpers/login.js';
import { startOidcIssuer, type TestAccount, type TestIssuer } from '../helpers/oidc-issuer.js';
import { freePort } from '../helpers/ports.js';
import { signIn } from '../threat-models/helpers.js';

/**
 * An authorization entry that names a user by email unlocks the threat model only for a
 * caller whose identity provider verified that email. Against a real OpenID Connect issuer: an
 * account at the same provider that carries the victim's address unverified (or without the
 * claim) gets neither the threat model nor its place in the list.
 */
describe('email-matched access needs a verified email (real OIDC issuer)', () => {
  let issuer: TestIssuer;
  let app: TestApp;
  const VICTIM_EMAIL = 'victim@corp.example';

  beforeAll(async () => {
    const issuerPort = await freePort();
    app = await startTestApp({
      overrides: {
        server: { read_your_writes_timeout_ms: 15_000 },
        auth: {
          administrators: [{ provider: 'corp', email: 'boss@corp.example' }],
          oauth: { providers: [{ id: 'corp', name: 'Corp SSO', kind: 'oidc', issuer: `http://127.0.0.1:${issuerPort}`, client_id: 'tmi-test-client', client_secret: 'tmi-test-secret-0123456789abcdef', scopes: ['openid', 'profile', 'email'] }] },
        },
      },
    });
    issuer = await startOidcIssuer(`${app.url}/oauth2/callback`, issuerPort);
  });
  afterAll(async () => {
    await app?.stop();
    await issuer?.stop();
  });

  /** The whole login: authorize at the app, the issuer's login and consent, callback, code exchange; returns the access token. */
  async function loginAs(account: TestAccount): Promise<string> {
    issuer.loginAs(account);
    const pkce = pkcePair();
    const query = new URLSearchParams({ idp: 'corp', client_callback: CLIENT_CALLBACK, state: `st-${account.sub}-${Date.now()}`, scope: 'openid profile email', code_challenge: pkce.challenge, code_challenge_method: 'S256' });
    const authorize = await app.request(`/oauth2/authorize?${query}`, { redirect: 'manual' });
    const backAtApp = await issuer.browse(authorize.headers.get('location')!);
    const callback = await app.request(backAtApp.pathname + backAtApp.search, { redirect: 'manual' });
    const code = new URL(callback.headers.get('location')!).searchParams.get('code')!;
    const res = await exchangeCode(app, code, pkce.verifier, 'corp');
    expect(res.status).toBe(200);
    return (await json(res)).access_token;
  }

  const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
  const listedIds = async (token: string) =>
    (await json(await app.request('/threat_models?limit=100', { token }))).threat_models.map((t: { id: string }) => t.id);

  it('an unverified or unasserted email does not match; the same email verified does', async () => {
    // The owner shares a threat model with the victim by email only.
    const owner = signIn(app, 'olga');
    const created = await app.request('/threat_models', {
      method: 'POST', token: owner.token,
      json: { name: 'Shared by email', authorization: [{ principal_type: 'user', provider: 'corp', provider_id: VICTIM_EMAIL, role: 'reader' }] },
    });
    expect(created.status).toBe(201);
    const id = (await json(created)).id as string;

    // An account whose provider hands out the victim's address without verifying it.
    const impostor = await loginAs({ sub: 'impostor-1', email: VICTIM_EMAIL, name: 'Impostor', email_verified: false });
    expect(claimsOf(impostor)).toMatchObject({ email: VICTIM_EMAIL, email_verified: false });
    const refused = await app.request(`/threat_models/${id}`, { token: impostor });
    expect(refused.status).toBe(403);
    expect(await json(refused)).toMatchObject({ error: 'forbidden' });
    expect(await listedIds(impostor)).not.toContain(id);
    expect((await app.request(`/threat_models/${id}/metadata`, { token: impostor })).status).toBe(403);

    // No email_verified claim at all is unverified too.
    const silent = await loginAs({ sub: 'silent-1', email: VICTIM_EMAIL, name: 'Silent', email_verified: null });
    expect(claimsOf(silent)).toMatchObject({ email_verified: false });
    expect((await app.request(`/threat_models/${id}`, { token: silent })).status).toBe(403);
    expect(await listedIds(silent)).not.toContain(id);

    // A string is not an assertion either, except the "true" some issuers send.
    const stringly = await loginAs({ sub: 'stringly-1', email: VICTIM_EMAIL, name: 'Stringly', email_verified: 'yes' });
    expect(claimsOf(stringly)).toMatchObject({ email_verified: false });
    expect((await app.request(`/threat_models/${id}`, { token: stringly })).status).toBe(403);
    const textual = await loginAs({ sub: 'textual-1', email: VICTIM_EMAIL, name: 'Textual', email_verified: 'true' });
    expect(claimsOf(textual)).toMatchObject({ email_verified: true });

    // The victim, whose provider verified the address, reads it and finds it listed.
    const victim = await loginAs({ sub: 'victim-1', email: VICTIM_EMAIL, name: 'Victim', email_verified: true });
    expect(claimsOf(victim)).toMatchObject({ email_verified: true });
    expect((await app.request(`/threat_models/${id}`, { token: victim })).status).toBe(200);
    expect(await listedIds(victim)).toContain(id);

    // Verification carried through the user's stream: once the provider verifies the impostor's address, the next login's token matches.
    const verifiedLater = await loginAs({ sub: 'impostor-1', email: VICTIM_EMAIL, name: 'Impostor', email_verified: true });
    expect(claimsOf(verifiedLater)).toMatchObject({ email_verified: true });
    expect((await app.request(`/threat_models/${id}`, { token: verifiedLater })).status).toBe(200);
    const { rows } = await app.runtime.services.database.pool.query(
      "select type, data->>'email_verified' as verified from events where stream_id in (select 'user-' || (data->>'user_id') from events where type = 'ProviderIdentityLinked' and data->>'provider_user_id' = 'impostor-1') and type in ('UserRegistered', 'UserProfileUpdated') order by position");
    expect(rows).toEqual([{ type: 'UserRegistered', verified: 'false' }, { type: 'UserProfileUpdated', verified: 'true' }]);
  });

  it('the email and its verification come from one claim set: a verified id-token address does not verify userinfo\'s', async () => {
    const owner = signIn(app, 'omar');
    const created = await app.request('/threat_models', {
      method: 'POST', token: owner.token,
      json: { name: 'Shared by email, mixed claims', authorization: [{ principal_type: 'user', provider: 'corp', provider_id: VICTIM_EMAIL, role: 'reader' }] },
    });
    expect(created.status).toBe(201);
    const id = (await json(created)).id as string;
    // The id token verifies the caller's own address; userinfo names the victim's and asserts nothing about it.
    const mixed = await loginAs({ sub: 'mixed-1', email: VICTIM_EMAIL, name: 'Mixed', email_verified: null, id_token: { email: 'own@elsewhere.example', email_verified: true } });
    expect(claimsOf(mixed)).toMatchObject({ email: VICTIM_EMAIL, email_verified: false });
    expect((await app.request(`/threat_models/${id}`, { token: mixed })).status).toBe(403);
    expect(await listedIds(mixed)).not.toContain(id);
  });

  it('where the id token and userinfo name the same address, the id token\'s verification holds though userinfo asserts none', async () => {
    const same = await loginAs({ sub: 'same-1', email: 'Same@corp.example', name: 'Same', email_verified: null, id_token: { email: 'same@corp.example', email_verified: true } });
    expect(claimsOf(same)).toMatchObject({ email: 'Same@corp.example', email_verified: true });
    const unverified = await loginAs({ sub: 'same-2', email: 'other@corp.example', name: 'Other', email_verified: null, id_token: { email: 'other@corp.example', email_verified: false } });
    expect(claimsOf(unverified)).toMatchObject({ email_verified: false });
  });

  it('an administrator named by email in the configuration is one only with that email verified', async () => {
    const isAdmin = async (token: string) => (await json(await app.request('/me', { token }))).is_admin;
    expect(await isAdmin(await loginAs({ sub: 'fake-boss', email: 'boss@corp.example', name: 'Fake', email_verified: false }))).toBe(false);
    expect(await isAdmin(await loginAs({ sub: 'real-boss', email: 'boss@corp.example', name: 'Boss', email_verified: true }))).toBe(true);
  });

  it('the provider id still matches without a verified email: only the email key depends on it', async () => {
    const owner = signIn(app, 'olga');
    const created = await app.request('/threat_models', {
      method: 'POST', token: owner.token,
      json: { name: 'Shared by subject', authorization: [{ principal_type: 'user', provider: 'corp', provider_id: 'unverified-2', role: 'writer' }] },
    });
    const id = (await json(created)).id as string;
    const token = await loginAs({ sub: 'unverified-2', email: 'someone@corp.example', name: 'Someone', email_verified: false });
    expect((await app.request(`/threat_models/${id}`, { token })).status).toBe(200);
    expect(await listedIds(token)).toContain(id);
  });
});
