import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertConforms } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { signIn, userEntry, type Who } from '../threat-models/helpers.js';

const P = '/threat_models/{threat_model_id}/threats';

describe('threats over HTTP', () => {
  let app: TestApp;
  let owner: Who;
  let reader: Who;
  let tm: string;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    owner = signIn(app, 'theo');
    reader = signIn(app, 'rita');
    const res = await app.request('/threat_models', { method: 'POST', token: owner.token, json: { name: 'Threats TM', authorization: [userEntry(reader, 'reader')] } });
    tm = (await json(res)).id;
  });
  afterAll(async () => { await app?.stop(); });

  const counts = async () => (await json(await app.request(`/threat_models?limit=100`, { token: owner.token }))).threat_models.find((t: { id: string }) => t.id === tm).threat_count;

  it('creates, reads, replaces, patches, deletes and restores a threat, keeping the parent count exact', async () => {
    const created = await app.request(`/threat_models/${tm}/threats`, { method: 'POST', token: owner.token, json: { name: 'SQL injection', threat_type: ['Tampering'], severity: 'High', score: 8.3, metadata: [{ key: 'cwe', value: 'CWE-89' }] } });
    expect(created.status).toBe(201);
    const threat = await json(created);
    assertConforms('POST', P, 201, threat);
    expect(threat).toMatchObject({ name: 'SQL injection', alias: 1, version: 2, threat_model_id: tm, mitigated: false, score: 8.3, metadata: [{ key: 'cwe', value: 'CWE-89' }] });
    expect(created.headers.get('location')).toBe(`/threat_models/${tm}/threats/${threat.id}`);
    expect(await counts()).toBe(1);

    const got = await app.request(`/threat_models/${tm}/threats/${threat.id}`, { token: reader.token });
    expect(got.status).toBe(200);
    const body = await json(got);
    assertConforms('GET', `${P}/{threat_id}`, 200, body);
    expect(body).toEqual(threat);

    const stale = await app.request(`/threat_models/${tm}/threats/${threat.id}`, { method: 'PUT', token: owner.token, headers: { 'if-match': '"1"' }, json: { name: 'x', threat_type: [] } });
    expect(stale.status).toBe(409);
    const replaced = await app.request(`/threat_models/${tm}/threats/${threat.id}`, { method: 'PUT', token: owner.token, headers: { 'if-match': '"2"' }, json: { name: 'SQLi', threat_type: ['Tampering'] } });
    expect(replaced.status).toBe(200);
    expect(await json(replaced)).toMatchObject({ name: 'SQLi', version: 3, metadata: [{ key: 'cwe', value: 'CWE-89' }] });
    expect(replaced.headers.get('etag')).toBe('"3"');

    const patched = await app.request(`/threat_models/${tm}/threats/${threat.id}`, {
      method: 'PATCH', token: owner.token, headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/mitigated', value: true }]),
    });
    expect(patched.status).toBe(200);
    assertConforms('PATCH', `${P}/{threat_id}`, 200, await json(patched));

    expect((await app.request(`/threat_models/${tm}/threats/${threat.id}`, { method: 'DELETE', token: reader.token })).status).toBe(403);
    expect((await app.request(`/threat_models/${tm}/threats/${threat.id}`, { method: 'DELETE', token: owner.token })).status).toBe(204);
    expect((await app.request(`/threat_models/${tm}/threats/${threat.id}`, { token: owner.token })).status).toBe(404);
    expect(await counts()).toBe(0);
    const restored = await app.request(`/threat_models/${tm}/threats/${threat.id}/restore`, { method: 'POST', token: owner.token });
    expect(restored.status).toBe(200);
    assertConforms('POST', `${P}/{threat_id}/restore`, 200, await json(restored));
    expect(await counts()).toBe(1);
  });

  it('lists with the contract\'s filters and sort, and answers the reader', async () => {
    const make = (name: string, extra: Record<string, unknown>) => app.request(`/threat_models/${tm}/threats`, { method: 'POST', token: owner.token, json: { name, threat_type: [], ...extra } });
    for (const [n, sev, score] of [['a', 'Low', 2], ['b', 'Critical', 9.1], ['c', 'critical', 7.5], ['d', 'Medium', 5]] as const) {
      expect((await make(`list-${n}`, { severity: sev, score })).status).toBe(201);
    }
    const res = await app.request(`/threat_models/${tm}/threats?severity=critical&sort=score:desc&name=list-`, { token: reader.token });
    expect(res.status).toBe(200);
    const list = await json(res);
    assertConforms('GET', P, 200, list);
    expect(list.threats.map((t: { name: string }) => t.name)).toEqual(['list-b', 'list-c']);
    expect(list.total).toBe(2);
    const bySeverity = await json(await app.request(`/threat_models/${tm}/threats?name=list-&sort=severity:desc,name:asc&limit=2`, { token: reader.token }));
    expect(bySeverity.threats.map((t: { name: string }) => t.name)).toEqual(['list-b', 'list-c']);
    expect(bySeverity.total).toBe(4);
    expect((await app.request(`/threat_models/${tm}/threats?sort=drop table`, { token: reader.token })).status).toBe(400);
    expect((await app.request(`/threat_models/${tm}/threats?include_deleted=true`, { token: reader.token })).status).toBe(403);
  });

  it('bulk creates, patches, upserts and deletes all or nothing', async () => {
    const before = await counts();
    const created = await app.request(`/threat_models/${tm}/threats/bulk`, { method: 'POST', token: owner.token, json: [{ name: 'bulk-1', threat_type: [] }, { name: 'bulk-2', threat_type: [] }] });
    expect(created.status).toBe(201);
    const items = await json(created);
    assertConforms('POST', `${P}/bulk`, 201, items);
    expect(new Set(items.map((t: { alias: number }) => t.alias)).size).toBe(2);
    expect(await counts()).toBe(before + 2);

    // One bad patch refuses the whole bulk: nothing changes.
    const bad = await app.request(`/threat_models/${tm}/threats/bulk`, {
      method: 'PATCH', token: owner.token,
      json: { patches: [{ id: items[0].id, operations: [{ op: 'replace', path: '/status', value: 'Closed' }] }, { id: items[1].id, operations: [{ op: 'replace', path: '/alias', value: 1 }] }] },
    });
    expect(bad.status).toBe(400);
    expect(await json(await app.request(`/threat_models/${tm}/threats/${items[0].id}`, { token: owner.token }))).not.toHaveProperty('status');

    const upserted = await app.request(`/threat_models/${tm}/threats/bulk`, { method: 'PUT', token: owner.token, json: [{ id: items[0].id, name: 'bulk-1b', threat_type: [] }, { id: '0190b000-0000-7000-8000-0000000000f1', name: 'bulk-new', threat_type: [] }] });
    expect(upserted.status).toBe(200);
    assertConforms('PUT', `${P}/bulk`, 200, await json(upserted));
    expect(await counts()).toBe(before + 3);

    const deleted = await app.request(`/threat_models/${tm}/threats/bulk?threat_ids=${items[0].id},${items[1].id}`, { method: 'DELETE', token: owner.token });
    expect(deleted.status).toBe(200);
    const body = await json(deleted);
    assertConforms('DELETE', `${P}/bulk`, 200, body);
    expect(body.deleted_count).toBe(2);
    expect(await counts()).toBe(before + 1);
  });

  it('serves threat metadata through the shared metadata routes', async () => {
    const threat = await json(await app.request(`/threat_models/${tm}/threats`, { method: 'POST', token: owner.token, json: { name: 'meta', threat_type: [] } }));
    const base = `/threat_models/${tm}/threats/${threat.id}/metadata`;
    expect((await app.request(base, { method: 'POST', token: owner.token, json: { key: 'k', value: 'v' } })).status).toBe(201);
    expect((await app.request(base, { method: 'POST', token: reader.token, json: { key: 'k2', value: 'v' } })).status).toBe(403);
    expect(await json(await app.request(`${base}/k`, { token: reader.token }))).toEqual({ key: 'k', value: 'v' });
    const bulk = await app.request(`${base}/bulk`, { method: 'PUT', token: owner.token, json: [{ key: 'a', value: '1' }] });
    expect(await json(bulk)).toEqual([{ key: 'a', value: '1' }]);
    expect(await json(await app.request(base, { token: reader.token }))).toEqual([{ key: 'a', value: '1' }]);
  });
});
