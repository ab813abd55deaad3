import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { groupEntry, signIn, userEntry, type Who } from './helpers.js';

describe('threat models over HTTP', () => {
  let app: TestApp;
  let alice: Who, bob: Who, carol: Who;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    alice = signIn(app, 'alice');
    bob = signIn(app, 'bob');
    carol = signIn(app, 'carol', { groups: ['auditors'] });
  });
  afterAll(async () => { await app?.stop(); });

  const create = async (who: Who, body: Record<string, unknown>) => {
    const res = await app.request('/threat_models', { method: 'POST', token: who.token, json: body });
    expect(res.status, await res.clone().text()).toBe(201);
    return { res, body: await json(res) };
  };

  it('create then GET at once returns it (read-your-writes), with ETag and position', async () => {
    const { res, body } = await create(alice, { name: 'Payments', description: 'card flows', metadata: [{ key: 'env', value: 'prod' }] });
    expect(res.headers.get('location')).toBe(`/threat_models/${body.id}`);
    expect(Number(res.headers.get('x-event-position'))).toBeGreaterThan(0);
    expect(res.headers.get('etag')).toBe('"2"');
    expect(body).toMatchObject({
      name: 'Payments', description: 'card flows', threat_model_framework: 'STRIDE', status: 'not_started', version: 2, is_confidential: false,
      owner: { principal_type: 'user', provider: 'tmi', provider_id: 'alice@tmi.local', email: 'alice@tmi.local', display_name: 'Alice' },
      metadata: [{ key: 'env', value: 'prod' }],
    });
    expect(body.alias).toBeGreaterThan(0);
    const got = await app.request(`/threat_models/${body.id}`, { token: alice.token });
    expect(got.status).toBe(200);
    expect(got.headers.get('etag')).toBe('"2"');
    expect(await json(got)).toEqual(body);
  });

  it('lists only readable threat models, with counts and the contract\'s pagination shape', async () => {
    const shared = (await create(alice, { name: 'Shared with auditors', authorization: [groupEntry('auditors', 'reader')] })).body;
    await create(bob, { name: 'Bob only' });
    const list = await json(await app.request('/threat_models?limit=100', { token: carol.token }));
    expect(list).toMatchObject({ total: 1, limit: 100, offset: 0 });
    expect(list.threat_models).toEqual([expect.objectContaining({
      id: shared.id, name: 'Shared with auditors', document_count: 0, repo_count: 0, diagram_count: 0, threat_count: 0, asset_count: 0, note_count: 0,
    })]);
    const filtered = await json(await app.request('/threat_models?name=ONLY', { token: bob.token }));
    expect(filtered.threat_models.map((t: { name: string }) => t.name)).toEqual(['Bob only']);
  });

  it('PUT with a stale If-Match is a conflict; without one a Warning header is sent', async () => {
    const { body } = await create(alice, { name: 'Versioned', authorization: [userEntry(bob, 'writer')] });
    const stale = await app.request(`/threat_models/${body.id}`, { method: 'PUT', token: bob.token, json: { name: 'x' }, headers: { 'if-match': '"7"' } });
    expect(stale.status).toBe(409);
    expect(await json(stale)).toMatchObject({ error: 'conflict' });
    const ok = await app.request(`/threat_models/${body.id}`, { method: 'PUT', token: bob.token, json: { name: 'Renamed' }, headers: { 'if-match': '"1"' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe('"2"');
    expect(ok.headers.get('warning')).toBeNull();
    const loose = await app.request(`/threat_models/${body.id}`, { method: 'PUT', token: bob.token, json: { name: 'Renamed again' } });
    expect(loose.status).toBe(200);
    expect(loose.headers.get('warning')).toMatch(/^299 /);
    const refused = await app.request(`/threat_models/${body.id}`, { method: 'PUT', token: carol.token, json: { name: 'nope' } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('warning')).toBeNull();
  });

  it('PATCH applies the allowlist; DELETE hides; restore brings back', async () => {
    const { body } = await create(alice, { name: 'Patchable', authorization: [userEntry(bob, 'writer')] });
    const patched = await app.request(`/threat_models/${body.id}`, {
      method: 'PATCH', token: bob.token, body: JSON.stringify([{ op: 'replace', path: '/name', value: 'Patched' }]),
      headers: { 'content-type': 'application/json-patch+json' },
    });
    expect(patched.status).toBe(200);
    expect((await json(patched)).name).toBe('Patched');
    const denied = await app.request(`/threat_models/${body.id}`, { method: 'PATCH', token: bob.token, json: [{ op: 'add', path: '/authorization/-', value: groupEntry('everyone', 'reader') }] });
    expect(denied.status).toBe(403);
    expect(await json(denied)).toMatchObject({ error: 'forbidden', details: { code: 'INSUFFICIENT_PERMISSIONS', context: { required_role: 'owner', user_role: 'writer' } } });
    const readOnly = await app.request(`/threat_models/${body.id}`, { method: 'PATCH', token: alice.token, json: [{ op: 'replace', path: '/id', value: 'x' }] });
    expect(readOnly.status).toBe(400);
    expect((await app.request(`/threat_models/${body.id}`, { method: 'DELETE', token: bob.token })).status).toBe(403);
    expect((await app.request(`/threat_models/${body.id}`, { method: 'DELETE', token: alice.token })).status).toBe(204);
    expect((await app.request(`/threat_models/${body.id}`, { token: alice.token })).status).toBe(404);
    const listed = await json(await app.request('/threat_models?limit=100', { token: alice.token }));
    expect(listed.threat_models.map((t: { id: string }) => t.id)).not.toContain(body.id);
    const withDeleted = await json(await app.request('/threat_models?limit=100&include_deleted=true', { token: alice.token }));
    expect(withDeleted.threat_models.find((t: { id: string }) => t.id === body.id)?.deleted_at).toBeTruthy();
    const restored = await app.request(`/threat_models/${body.id}/restore`, { method: 'POST', token: alice.token });
    expect(restored.status).toBe(200);
    expect((await app.request(`/threat_models/${body.id}`, { token: bob.token })).status).toBe(200);
    expect((await app.request(`/threat_models/${body.id}/restore`, { method: 'POST', token: alice.token })).status).toBe(409);
  });

  it('metadata: add, duplicate, read, replace, delete, bulk', async () => {
    const { body } = await create(alice, { name: 'Meta' });
    const base = `/threat_models/${body.id}/metadata`;
    const added = await app.request(base, { method: 'POST', token: alice.token, json: { key: 'team', value: 'payments' } });
    expect(added.status).toBe(201);
    expect(await json(added)).toEqual({ key: 'team', value: 'payments' });
    expect((await app.request(base, { method: 'POST', token: alice.token, json: { key: 'team', value: 'x' } })).status).toBe(409);
    expect(await json(await app.request(`${base}/team`, { token: alice.token }))).toEqual({ key: 'team', value: 'payments' });
    expect((await app.request(`${base}/nope`, { token: alice.token })).status).toBe(404);
    const put = await app.request(`${base}/team`, { method: 'PUT', token: alice.token, json: { value: 'core' } });
    expect(await json(put)).toEqual({ key: 'team', value: 'core' });
    const bulk = await app.request(`${base}/bulk`, { method: 'POST', token: alice.token, json: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }] });
    expect(bulk.status).toBe(201);
    const upsert = await app.request(`${base}/bulk`, { method: 'PATCH', token: alice.token, json: [{ key: 'a', value: '9' }] });
    expect(await json(upsert)).toEqual([{ key: 'team', value: 'core' }, { key: 'a', value: '9' }, { key: 'b', value: '2' }]);
    expect(await json(await app.request(base, { token: alice.token }))).toEqual([{ key: 'team', value: 'core' }, { key: 'a', value: '9' }, { key: 'b', value: '2' }]);
    expect((await app.request(`${base}/a`, { method: 'DELETE', token: alice.token })).status).toBe(204);
    const replaced = await app.request(`${base}/bulk`, { method: 'PUT', token: alice.token, json: [{ key: 'z', value: '26' }] });
    expect(await json(replaced)).toEqual([{ key: 'z', value: '26' }]);
    const tm = await json(await app.request(`/threat_models/${body.id}`, { token: alice.token }));
    expect(tm.metadata).toEqual([{ key: 'z', value: '26' }]);
  });

  it('If-Match: * writes unconditionally, garbage is refused, and the server can require it (428)', async () => {
    const { body } = await create(alice, { name: 'Preconditions' });
    const url = `/threat_models/${body.id}`;
    const star = await app.request(url, { method: 'PUT', token: alice.token, json: { name: 'Star' }, headers: { 'if-match': '*' } });
    expect(star.status).toBe(200);
    expect(star.headers.get('warning')).toBeNull();
    expect((await app.request(url, { method: 'PUT', token: alice.token, json: { name: 'x' }, headers: { 'if-match': 'yesterday' } })).status).toBe(400);
    app.runtime.services.config.server.require_if_match = true;
    try {
      const missing = await app.request(url, { method: 'PATCH', token: alice.token, json: [{ op: 'replace', path: '/name', value: 'y' }] });
      expect(missing.status).toBe(428);
      expect(await json(missing)).toMatchObject({ error: 'precondition_required' });
      const weak = await app.request(url, { method: 'PATCH', token: alice.token, json: [{ op: 'replace', path: '/name', value: 'y' }], headers: { 'if-match': 'W/"2"' } });
      expect(weak.status).toBe(200);
    } finally {
      app.runtime.services.config.server.require_if_match = false;
    }
  });

  it('Prefer: respond-async answers 202 at once; a GET with the position waits for it', async () => {
    const res = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Async' }, headers: { prefer: 'respond-async' } });
    expect(res.status).toBe(202);
    const body = await json(res);
    const position = res.headers.get('x-event-position')!;
    const byHeader = await app.request(`/threat_models/${body.id}`, { token: alice.token, headers: { 'x-min-position': position } });
    expect(byHeader.status).toBe(200);
    const byQuery = await json(await app.request(`/threat_models?name=Async&min_position=${position}`, { token: alice.token }));
    expect(byQuery.threat_models.map((t: { id: string }) => t.id)).toEqual([body.id]);
    expect((await app.request(`/threat_models/${body.id}?min_position=-1`, { token: alice.token })).status).toBe(400);
    // A deletion answered before the read tables show it is a 202 with the 204's (empty) body.
    const deleted = await app.request(`/threat_models/${body.id}`, { method: 'DELETE', token: alice.token, headers: { prefer: 'respond-async' } });
    expect(deleted.status).toBe(202);
    expect(await deleted.text()).toBe('');
  });

  it('an Idempotency-Key makes a retried create return the original without appending', async () => {
    const key = `create-${Date.now()}`;
    const first = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Once' }, headers: { 'idempotency-key': key } });
    const again = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Once' }, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await json(again)).id).toBe((await json(first)).id);
    const list = await json(await app.request('/threat_models?name=Once', { token: alice.token }));
    expect(list.total).toBe(1);
    // Another user's identical key is a different command.
    const other = await app.request('/threat_models', { method: 'POST', token: bob.token, json: { name: 'Once' }, headers: { 'idempotency-key': key } });
    expect(other.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a replayed Idempotency-Key answers with the outcome as it was, not with what the caller may no longer see', async () => {
    const { body } = await create(alice, { name: 'Shared once', authorization: [userEntry(bob, 'writer')] });
    const key = `patch-${Date.now()}`;
    const first = await app.request(`/threat_models/${body.id}`, { method: 'PATCH', token: bob.token, json: [{ op: 'replace', path: '/name', value: 'Bob was here' }], headers: { 'idempotency-key': key } });
    expect(first.status).toBe(200);
    const original = await json(first);
    // Alice renames it and takes Bob's access away.
    const revoked = await app.request(`/threat_models/${body.id}`, { method: 'PUT', token: alice.token, json: { name: 'Secret now', authorization: [] } });
    expect(revoked.status).toBe(200);
    const replay = await app.request(`/threat_models/${body.id}`, { method: 'PATCH', token: bob.token, json: [{ op: 'replace', path: '/name', value: 'Bob was here' }], headers: { 'idempotency-key': key } });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const replayed = await json(replay);
    expect(replayed).toEqual(original);
    expect(JSON.stringify(replayed)).not.toContain('Secret now');
  });

  it('transferring ownership by PATCH keeps the previous owner as an owner', async () => {
    const { body } = await create(alice, { name: 'Handover', authorization: [userEntry(bob, 'writer')] });
    const bobUser = { principal_type: 'user', provider: 'tmi', provider_id: 'bob@tmi.local', display_name: 'Bob', email: 'bob@tmi.local' };
    const res = await app.request(`/threat_models/${body.id}`, { method: 'PATCH', token: alice.token, json: [{ op: 'replace', path: '/owner', value: bobUser }] });
    expect(res.status).toBe(200);
    const tm = await json(res);
    expect(tm.owner).toEqual(bobUser);
    expect(tm.authorization).toEqual(expect.arrayContaining([expect.objectContaining({ provider_id: 'alice@tmi.local', role: 'owner' }), expect.objectContaining({ provider_id: 'bob@tmi.local', role: 'owner' })]));
    expect((await app.request(`/threat_models/${body.id}`, { method: 'DELETE', token: bob.token })).status).toBe(204);
  });

  it('the generated OpenAPI document lists the threat model routes', async () => {
    const doc = await json(await app.request('/openapi.json'));
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
      '/threat_models', '/threat_models/{threat_model_id}', '/threat_models/{threat_model_id}/restore',
      '/threat_models/{threat_model_id}/metadata', '/threat_models/{threat_model_id}/metadata/{key}', '/threat_models/{threat_model_id}/metadata/bulk',
    ]));
    expect(doc.paths['/threat_models'].post.requestBody.content['application/json'].schema.required).toEqual(['name']);
  });

  it('the list finds threat models by the same subject rules as the domain (built-in groups, provider-scoped groups, email)', async () => {
    const gUser = signIn(app, 'gus', { provider: 'google', groups: ['staff'] });
    const hUser = signIn(app, 'hal', { provider: 'github', groups: ['staff'] });
    const viaTmiEveryone = (await create(alice, { name: 'Listing everyone tmi', authorization: [{ principal_type: 'group', provider: 'tmi', provider_id: 'everyone', role: 'reader' }] })).body;
    const viaGoogleStaff = (await create(alice, { name: 'Listing google staff', authorization: [{ principal_type: 'group', provider: 'google', provider_id: 'Staff', role: 'reader' }] })).body;
    const viaEmail = (await create(alice, { name: 'Listing by email', authorization: [{ principal_type: 'user', provider: '*', provider_id: 'HAL@tmi.local', role: 'reader' }] })).body;
    const names = async (who: Who) => (await json(await app.request('/threat_models?name=Listing&limit=100', { token: who.token }))).threat_models.map((t: { id: string }) => t.id).sort();
    expect(await names(gUser)).toEqual([viaTmiEveryone.id, viaGoogleStaff.id].sort());
    expect(await names(hUser)).toEqual([viaTmiEveryone.id, viaEmail.id].sort());
    for (const [who, id] of [[gUser, viaGoogleStaff.id], [hUser, viaEmail.id]] as const) {
      expect((await app.request(`/threat_models/${id}`, { token: who.token })).status).toBe(200);
    }
    expect((await app.request(`/threat_models/${viaGoogleStaff.id}`, { token: hUser.token })).status).toBe(403);
  });

  it('pages with limit and offset, newest change first, and keeps the total past the last page', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await create(bob, { name: `Paged ${n}` })).body.id);
    const page = async (q: string) => json(await app.request(`/threat_models?name=Paged&${q}`, { token: bob.token }));
    const first = await page('limit=2');
    expect(first).toMatchObject({ total: 3, limit: 2, offset: 0 });
    expect(first.threat_models.map((t: { id: string }) => t.id)).toEqual([ids[2], ids[1]]);
    const second = await page('limit=2&offset=2');
    expect(second.threat_models.map((t: { id: string }) => t.id)).toEqual([ids[0]]);
    expect(await page('limit=2&offset=10')).toEqual({ threat_models: [], total: 3, limit: 2, offset: 10 });
    expect((await app.request('/threat_models?limit=101', { token: bob.token })).status).toBe(400);
  });
});
