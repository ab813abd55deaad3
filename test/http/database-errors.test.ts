import Fastify from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { threatModelStreamId } from '../../src/commands/threat-models/events.js';
import { errorHandlerPlugin } from '../../src/http/plugins/error-handler.js';
import { EventStore, MAX_EVENTS_PER_APPEND } from '../../src/events/store.js';
import { TRANSACTION_CONFLICT_RETRIES } from '../../src/infra/database-errors.js';
import { assertConforms, assertErrorBody } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { detectDeadlocksFast, holdTransaction } from '../helpers/deadlock.js';
import { testCatalog, testMetadata } from '../helpers/events.js';
import { eventCount, signIn, type Who } from '../threat-models/helpers.js';

/**
 * Database failures that are nobody's fault but timing answer 503 with Retry-After and TMI's
 * error body — after the store has re-run its append where that is safe — never 500. Every
 * failure here is a real one, produced against the running service's PostgreSQL.
 */
describe('transient database failures over HTTP', () => {
  let db: TestDatabase;
  let app: TestApp;
  let alice: Who;
  beforeAll(async () => {
    db = await createTestDatabase();
    await detectDeadlocksFast(db);
    // Long enough that a deadlock is always detected first, also while the test's own rounds are
    // slowed by a loaded machine (at 1 s an append waiting out a slow round was cut off as busy);
    // short enough for the lock test below.
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`alter database ${db.name} set lock_timeout = '5s'`);
    await admin.end();
    app = await startTestApp({ database: db, overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    alice = signIn(app, 'alice');
  });
  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  const createThreatModel = async () => {
    const res = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Contended' } });
    expect(res.status).toBe(201);
    return (await json(res)).id as string;
  };
  // Renaming and adding metadata are two events: versions 2 and 3 of a new threat model's stream.
  const put = (id: string) => app.request(`/threat_models/${id}`, {
    method: 'PUT', token: alice.token, json: { name: 'Renamed', metadata: [{ key: 'k', value: 'v' }] },
  });

  /**
   * Sends the PUT while a held transaction owns version 3 and, each time the append waits for it,
   * takes version 2 from under it: every attempt of the append ends in a deadlock, up to `rounds`
   * of them; then the held transaction goes away. Returns the response and the deadlocks driven.
   */
  async function putDeadlocking(id: string, rounds: number) {
    const streamId = threatModelStreamId(id);
    const held = await holdTransaction(db);
    try {
      await held.insertEvent(streamId, 3);
      let answered = false;
      const response = put(id).finally(() => { answered = true; });
      let deadlocks = 0;
      while (deadlocks < rounds && await held.blockingSomeone(() => answered)) {
        await held.client.query('savepoint round');
        // Returns once PostgreSQL has aborted the append, which held version 2 until then.
        await held.insertEvent(streamId, 2);
        await held.client.query('rollback to savepoint round');
        deadlocks++;
      }
      await held.end();
      return { res: await response, deadlocks };
    } finally {
      await held.end();
    }
  }

  it('an append that keeps losing deadlocks is retried, then answered 503 with Retry-After; nothing is written', async () => {
    const id = await createThreatModel();
    const before = await eventCount(app);
    const { res, deadlocks } = await putDeadlocking(id, Infinity);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const body = await json(res);
    assertConforms('PUT', '/threat_models/{threat_model_id}', 503, body);
    expect(body).toMatchObject({ error: 'service_unavailable' });
    expect(deadlocks).toBe(TRANSACTION_CONFLICT_RETRIES + 1);
    expect(await eventCount(app)).toBe(before);
    expect((await json(await app.request(`/threat_models/${id}`, { token: alice.token }))).name).toBe('Contended');
  });

  it('an append that loses a deadlock or two is retried and succeeds', async () => {
    const id = await createThreatModel();
    const { res, deadlocks } = await putDeadlocking(id, 2);
    expect(deadlocks).toBe(2);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"3"');
    expect((await json(res)).name).toBe('Renamed');
    const stream = await app.runtime.services.store.readStream(threatModelStreamId(id));
    expect(stream.map((e) => e.type)).toEqual(['ThreatModelCreated', 'ThreatModelDetailsChanged', 'MetadataEntriesSet']);
  });

  it('a lock that cannot be had within lock_timeout is 503 with Retry-After, not 500', async () => {
    const id = await createThreatModel();
    const held = await holdTransaction(db);
    try {
      await held.insertEvent(threatModelStreamId(id), 2);
      const res = await put(id);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      assertConforms('PUT', '/threat_models/{threat_model_id}', 503, await json(res));
    } finally {
      await held.end();
    }
  });
});

describe('an append of too many events over HTTP', () => {
  let db: TestDatabase;
  beforeAll(async () => { db = await createTestDatabase(); });
  afterAll(async () => { await db?.drop(); });

  it('is 413 payload_too_large with the counts, and writes nothing', async () => {
    // No route asks for that many changes yet; this one sends whatever it is given to the real store.
    const store = new EventStore(db.pool, testCatalog());
    const app = Fastify({ bodyLimit: 10 * 1024 * 1024 });
    await app.register(errorHandlerPlugin);
    app.post<{ Body: { count: number } }>('/counters', async (request) => {
      const events = Array.from({ length: request.body.count }, () => ({ type: 'CounterIncremented', data: { by: 1 } }));
      await store.appendToStream({ stream_id: 'too-many', stream_type: 'counter', expected: 'any', events }, { metadata: testMetadata() });
      return { ok: true };
    });
    try {
      const res = await app.inject({ method: 'POST', url: '/counters', payload: { count: MAX_EVENTS_PER_APPEND + 1 } });
      expect(res.statusCode).toBe(413);
      const body = res.json();
      assertErrorBody(body);
      expect(body).toMatchObject({
        error: 'payload_too_large',
        details: { code: 'TOO_MANY_CHANGES', context: { count: MAX_EVENTS_PER_APPEND + 1, max: MAX_EVENTS_PER_APPEND } },
      });
      expect(await store.streamVersion('too-many')).toBe(0);
      expect((await app.inject({ method: 'POST', url: '/counters', payload: { count: 3 } })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
