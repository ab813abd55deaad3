import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertConforms } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { projectionLockKey } from '../../src/projections/runner.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { signIn, type Who } from '../threat-models/helpers.js';

/**
 * TMI's full ThreatModel body carries its children. The API instance here runs no projectors (a
 * separate worker does), so every statement its pool sends is one a request caused.
 */
describe('the full ThreatModel body', () => {
  let database: TestDatabase;
  let api: TestApp;
  let worker: TestApp;
  let owner: Who;
  beforeAll(async () => {
    database = await createTestDatabase();
    // One BullMQ prefix, so the API's wake-ups reach the worker.
    const quiet = { server: { read_your_writes_timeout_ms: 15_000 }, auth: { revocation_poll_ms: 60_000 }, redis: { prefix: `full${Date.now()}` } };
    worker = await startTestApp({ database, role: 'worker', overrides: quiet });
    api = await startTestApp({ database, overrides: { ...quiet, server: { ...quiet.server, run_projections: false } } });
    owner = signIn(api, 'fiona');
  });
  afterAll(async () => {
    await api?.stop();
    await worker?.stop();
    await database?.drop();
  });

  async function threatModelWith(threats: number): Promise<string> {
    const tm = (await json(await api.request('/threat_models', { method: 'POST', token: owner.token, json: { name: `Full ${threats}` } }))).id;
    for (let done = 0; done < threats; done += 20) {
      const batch = Array.from({ length: Math.min(20, threats - done) }, (_, i) => ({ name: `t${done + i}`, threat_type: [], metadata: [{ key: 'n', value: String(done + i) }] }));
      expect((await api.request(`/threat_models/${tm}/threats/bulk`, { method: 'POST', token: owner.token, json: batch })).status).toBe(201);
    }
    return tm;
  }

  /** Statements the API's pool sent while answering one GET of the threat model. */
  async function statementsFor(tm: string) {
    const before = api.runtime.services.database.statements();
    const res = await api.request(`/threat_models/${tm}`, { token: owner.token });
    const after = api.runtime.services.database.statements();
    expect(res.status).toBe(200);
    return { statements: after - before, body: await json(res) };
  }

  it('carries every live child in its kind\'s body, and validates against the contract', async () => {
    const tm = await threatModelWith(3);
    const { body } = await statementsFor(tm);
    assertConforms('GET', '/threat_models/{threat_model_id}', 200, body);
    expect(body.threats.map((t: { name: string }) => t.name)).toEqual(['t0', 't1', 't2']);
    expect(body.threats[1].metadata).toEqual([{ key: 'n', value: '1' }]);
    const deleted = body.threats[0].id;
    expect((await api.request(`/threat_models/${tm}/threats/${deleted}`, { method: 'DELETE', token: owner.token })).status).toBe(204);
    expect((await statementsFor(tm)).body.threats.map((t: { id: string }) => t.id)).not.toContain(deleted);
    const created = await json(await api.request('/threat_models', { method: 'POST', token: owner.token, json: { name: 'Empty' } }));
    expect(created.threats).toEqual([]);
  });

  it('reads children in a fixed number of statements, however many there are (no N+1)', async () => {
    const few = await statementsFor(await threatModelWith(2));
    const many = await statementsFor(await threatModelWith(60));
    expect(many.body.threats).toHaveLength(60);
    expect(many.statements).toBe(few.statements);
    expect(many.statements).toBeLessThanOrEqual(5);
  });
  it('waits for the children\'s read tables too when asked for a position', { timeout: 30_000 }, async () => {
    const tm = await threatModelWith(0);
    const { pool } = api.runtime.services.database;
    // Hold the threats projection still, as a long batch would, while a threat is created.
    const holder = await pool.connect();
    let read: Promise<Response>;
    try {
      await holder.query('begin');
      await holder.query('select pg_advisory_xact_lock($1)', [projectionLockKey('threats')]);
      const created = await api.request(`/threat_models/${tm}/threats`, { method: 'POST', token: owner.token, headers: { prefer: 'respond-async' }, json: { name: 'Late', threat_type: [] } });
      expect(created.status).toBe(202);
      const position = Number(created.headers.get('x-event-position'));
      read = api.request(`/threat_models/${tm}`, { token: owner.token, headers: { 'x-min-position': String(position) } });
      // The threat model's own projections have moved past the position; the threats table has not.
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await holder.query('commit');
      holder.release();
    }
    const body = await json(await read!);
    expect(body.threats.map((t: { name: string }) => t.name)).toEqual(['Late']);
  });
});
