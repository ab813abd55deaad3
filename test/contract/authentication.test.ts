import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { principalFromClaims } from '../../src/auth/tokens.js';
import { loginWithDevProvider } from '../helpers/login.js';
import { assertConforms, contractOperations, isPublicOperation, type ContractOperation } from './contract.js';

/**
 * TMI authenticates before anything else. Walked over the contract itself: every operation
 * whose path this service serves (the paths of its own `/openapi.json`), called without a
 * token and with input that would fail every later step — a malformed path parameter, a
 * malformed query, a body that is not JSON — answers 401 with the contract's error body; every
 * public one is reachable without a token.
 */
describe('authentication comes first, on every operation of the contract the service serves', () => {
  let app: TestApp;
  let served: ContractOperation[];
  beforeAll(async () => {
    app = await startTestApp();
    const paths = new Set(Object.keys((await json(await app.request('/openapi.json'))).paths));
    served = contractOperations().filter((op) => paths.has(op.path));
  });
  afterAll(async () => { await app?.stop(); });

  const MALFORMED_BODY = '{"name": ';
  /** The path with every parameter malformed (no uuid, no key pattern allows a space or `!`), plus a malformed query. */
  const malformedUrl = (path: string) => `${path.replace(/\{[^}]+\}/g, encodeURIComponent('not a valid id!'))}?limit=not-a-number`;
  const malformedRequest = (op: ContractOperation, token?: string) => app.request(malformedUrl(op.path), {
    method: op.method,
    token,
    ...(op.method === 'GET' || op.method === 'HEAD' ? {} : { body: MALFORMED_BODY, headers: { 'content-type': 'application/json' } }),
  });

  it('walks the served operations of the contract, public and not', () => {
    const names = served.map((op) => `${op.method} ${op.path}`);
    // Not vacuous: the threat model, metadata, account and OAuth operations are all in the walk.
    expect(names).toEqual(expect.arrayContaining([
      'GET /threat_models', 'PUT /threat_models/{threat_model_id}', 'DELETE /threat_models/{threat_model_id}/metadata/{key}',
      'POST /threat_models/{threat_model_id}/metadata/bulk', 'GET /me', 'DELETE /me/client_credentials/{credential_id}',
      'GET /me/groups/{group_id}/members', 'GET /oauth2/userinfo', 'POST /oauth2/token', 'GET /', 'GET /config',
    ]));
  });

  it('answers every non-public operation 401 with the contract\'s error body before routing, parsing or validation', async () => {
    const refused = served.filter((op) => !isPublicOperation(op));
    expect(refused.length).toBeGreaterThan(20);
    const wrong: string[] = [];
    for (const op of refused) {
      const res = await malformedRequest(op);
      const body = await json(res);
      if (res.status !== 401 || body.error !== 'unauthorized' || res.headers.get('www-authenticate') !== 'Bearer error="invalid_token"') {
        wrong.push(`${op.method} ${op.path}: ${res.status} ${JSON.stringify(body)}`);
        continue;
      }
      assertConforms(op.method, op.path, 401, body);
    }
    expect(wrong).toEqual([]);
  });

  it('with a token, the same requests get past authentication (routing, parsing and validation answer)', async () => {
    const { tokens } = app.runtime.services;
    const { jti: _j, exp: _e, ...walker } = principalFromClaims(tokens.verify((await loginWithDevProvider(app, 'walker')).access_token));
    const statuses = new Map<string, number>();
    for (const op of served.filter((o) => !isPublicOperation(o))) {
      // A fresh token of the same user each time: one of these is POST /me/logout, which would revoke a shared one.
      const res = await malformedRequest(op, tokens.issue(walker).token);
      statuses.set(`${op.method} ${op.path}`, res.status);
    }
    expect([...statuses].filter(([, status]) => status === 401 || status >= 500)).toEqual([]);
    // Malformed input to a route that exists is a 400, not a 401.
    expect(statuses.get('PUT /threat_models/{threat_model_id}')).toBe(400);
    expect(statuses.get('POST /threat_models')).toBe(400);
    expect(statuses.get('GET /threat_models')).toBe(400);
  });

  it('reaches every public operation without a token', async () => {
    const open = served.filter(isPublicOperation);
    expect(open.map((op) => `${op.method} ${op.path}`)).toEqual(expect.arrayContaining([
      'GET /', 'GET /config', 'GET /oauth2/providers', 'GET /oauth2/authorize', 'GET /oauth2/callback', 'POST /oauth2/token',
      'POST /oauth2/refresh', 'POST /oauth2/revoke', 'POST /oauth2/introspect', 'GET /.well-known/openid-configuration', 'GET /.well-known/jwks.json',
    ]));
    const refused: string[] = [];
    for (const op of open) {
      // Malformed input again: the answer comes from the route (400, 302 …), never from the authentication gate.
      const res = await malformedRequest(op);
      if (res.status === 401 || res.status >= 500) refused.push(`${op.method} ${op.path}: ${res.status} ${await res.text()}`);
    }
    expect(refused).toEqual([]);
  });

  it('keeps the operational endpoints outside the contract public', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/docs/json']) {
      const res = await app.request(path, { redirect: 'manual' });
      expect(res.status, path).toBeLessThan(400);
    }
  });
});
