import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { signIn, userEntry, type Who } from '../threat-models/helpers.js';

const DASH = '/extensions/threat-dashboard';

describe('threat dashboard (extension)', () => {
  let app: TestApp;
  let alice: Who;
  let bob: Who;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    alice = signIn(app, 'dana');
    bob = signIn(app, 'boris');
  });
  afterAll(async () => { await app?.stop(); });

  const threatModel = async (name: string, authorization: unknown[] = []) =>
    (await json(await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name, authorization } }))).id as string;
  const threat = async (tm: string, body: Record<string, unknown>) => {
    const res = await app.request(`/threat_models/${tm}/threats`, { method: 'POST', token: alice.token, json: { threat_type: [], ...body } });
    expect(res.status).toBe(201);
    return json(res);
  };
  const dashboard = async (who: Who, path = DASH) => {
    const res = await app.request(path, { token: who.token });
    expect(res.status).toBe(200);
    return json(res);
  };

  it('counts live threats by severity, status and mitigated as they change, and lists the newest changes', async () => {
    const tm = await threatModel('Dash A', [userEntry(bob, 'reader')]);
    const a = await threat(tm, { name: 'a', severity: 'High', status: 'Open' });
    await threat(tm, { name: 'b', severity: 'high', mitigated: true });
    const c = await threat(tm, { name: 'c', severity: 'Low', status: 'Open' });
    await app.request(`/threat_models/${tm}/threats/${a.id}`, { method: 'PUT', token: alice.token, json: { name: 'a', threat_type: [], severity: 'Critical', status: 'Open' } });
    await app.request(`/threat_models/${tm}/threats/${c.id}`, { method: 'DELETE', token: alice.token });

    const own = await dashboard(bob, `${DASH}/threat_models/${tm}`);
    expect(own).toMatchObject({ threat_model_id: tm, total: 2, mitigated: 1, by_severity: { critical: 1, high: 1 }, by_status: { open: 1, unset: 1 } });
    expect(own.recent.map((r: { name: string; change: string }) => [r.name, r.change])).toEqual([['c', 'deleted'], ['a', 'changed'], ['b', 'created']]);

    // The counts equal a fresh GROUP BY over the threats read table: nothing drifts.
    const { rows } = await app.runtime.services.database.pool.query(
      `select coalesce(severity, '') as severity, count(*)::int as n from threats where threat_model_id = $1 and deleted_at is null group by 1 order by 1`, [tm]);
    const { rows: kept } = await app.runtime.services.database.pool.query(
      `select severity, sum(threats)::int as n from threat_dashboard_counts where threat_model_id = $1 and threats > 0 group by 1 order by 1`, [tm]);
    expect(kept).toEqual(rows);
  });

  it('adds up every threat model the caller can read, and nothing else; a deleted threat model drops out', async () => {
    const shared = await threatModel('Dash shared', [userEntry(bob, 'reader')]);
    const privateOne = await threatModel('Dash private');
    await threat(shared, { name: 's1', severity: 'Medium' });
    await threat(privateOne, { name: 'p1', severity: 'Medium' });
    await threat(privateOne, { name: 'p2', severity: 'Medium' });

    const before = await dashboard(bob);
    const mine = await dashboard(alice);
    expect(mine.total - before.total).toBe(2);
    expect(before.recent.every((r: { threat_model_id: string }) => r.threat_model_id !== privateOne)).toBe(true);
    expect((await app.request(`${DASH}/threat_models/${privateOne}`, { token: bob.token })).status).toBe(403);

    expect((await app.request(`/threat_models/${shared}`, { method: 'DELETE', token: alice.token })).status).toBe(204);
    const after = await dashboard(bob);
    expect(after.threat_models).toBe(before.threat_models - 1);
    expect(after.by_severity.medium ?? 0).toBe((before.by_severity.medium ?? 0) - 1);
  });

  it('counts a severity or status named like an object\'s own members as any other', async () => {
    const tm = await threatModel('Dash prototype');
    await threat(tm, { name: 'a', severity: 'constructor', status: 'toString' });
    await threat(tm, { name: 'b', severity: '__proto__', status: 'hasOwnProperty' });
    const own = await dashboard(alice, `${DASH}/threat_models/${tm}`);
    expect(own).toMatchObject({ total: 2, by_severity: { constructor: 1, ['__proto__']: 1 }, by_status: { tostring: 1, hasownproperty: 1 } });
    expect(Object.keys(own.by_severity).sort()).toEqual(['__proto__', 'constructor']);
    expect((await dashboard(alice)).total).toBeGreaterThanOrEqual(2);
  });

  it('is in the published OpenAPI document under its own prefix, and needs a token', async () => {
    const doc = await json(await app.request('/openapi.json'));
    expect(Object.keys(doc.paths).filter((p) => p.startsWith(DASH))).toEqual([DASH, `${DASH}/threat_models/{threat_model_id}`]);
    expect((await app.request(DASH)).status).toBe(401);
  });
});
