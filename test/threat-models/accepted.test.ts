import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { THREAT_MODEL_PROJECTIONS } from '../../src/application/threat-models.js';
import { projectionLockKey } from '../../src/projections/runner.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { eventually } from '../helpers/eventually.js';
import { appendPoisonMetadata } from '../helpers/poison.js';
import { signIn } from './helpers.js';

/**
 * A command is answered 201/200 only once its projections show it. When they cannot yet, it is
 * committed all the same and answered 202 Accepted with its body and X-Event-Position, so the
 * client knows to GET with X-Min-Position instead of reading a 404.
 */
describe('a command its projections cannot show yet is answered 202 Accepted', () => {
  describe('when a projection it waits for is halted on a poison event', () => {
    let app: TestApp;
    // A minute of read-your-writes: only an answer that does not wait for it fits in the test's 20 s.
    beforeAll(async () => { app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 60_000 } } }); });
    afterAll(async () => { await app?.stop(); });

    it('answers at once, and the service reports itself degraded but ready', { timeout: 20_000 }, async () => {
      const { services } = app.runtime;
      const poison = await appendPoisonMetadata(services, '0190a000-0000-7000-8000-0000000000aa');
      await eventually('metadata is halted', async () =>
        (await services.database.pool.query('select 1 from projection_checkpoints where name = $1 and halted_at is not null', ['metadata'])).rowCount === 1);

      const alice = signIn(app, 'alice');
      const created = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'While halted' } });
      expect(created.status).toBe(202);
      const body = await json(created);
      expect(body).toMatchObject({ name: 'While halted', id: expect.any(String) });
      const position = Number(created.headers.get('x-event-position'));
      expect(position).toBeGreaterThan(poison.position);
      expect(created.headers.get('location')).toBe(`/threat_models/${body.id}`);

      // The projections that are not halted show it; a GET asking for the position does not wait for the halted one.
      const read = await app.request(`/threat_models/${body.id}`, { token: alice.token, headers: { 'x-min-position': String(position) } });
      expect(read.status).toBe(200);
      expect((await json(read)).name).toBe('While halted');

      const ready = await app.request('/readyz');
      expect(ready.status).toBe(200);
      expect(await json(ready)).toMatchObject({ status: 'degraded', database: { status: 'healthy' }, projections: { halted: [{ name: 'metadata', halted_at: poison.position }] } });
      const info = await json(await app.request('/'));
      expect(info.status.code).toBe('degraded');
      expect(info.health.database).toMatchObject({ status: 'healthy', message: expect.stringContaining('metadata') });
    });
  });

  describe('when the wait times out', () => {
    let app: TestApp;
    beforeAll(async () => { app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 300 } } }); });
    afterAll(async () => { await app?.stop(); });

    it('answers 202 rather than 201; the threat model is readable once the projection moves', async () => {
      const { services } = app.runtime;
      const alice = signIn(app, 'alice');
      // Hold the threat_models projection still, as a long batch of another copy would.
      const holder = await services.database.pool.connect();
      let position: number;
      let id: string;
      try {
        await holder.query('begin');
        await holder.query('select pg_advisory_xact_lock($1)', [projectionLockKey('threat_models')]);
        const created = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Slow to show' } });
        expect(created.status).toBe(202);
        const body = await json(created);
        expect(body.name).toBe('Slow to show');
        id = body.id;
        position = Number(created.headers.get('x-event-position'));
        expect(position).toBeGreaterThan(0);
        expect(created.headers.get('etag')).toBe('"1"');
      } finally {
        await holder.query('commit');
        holder.release();
      }
      expect(await services.progress.waitFor(THREAT_MODEL_PROJECTIONS, position, 15_000)).toBe(true);
      const read = await app.request(`/threat_models/${id}`, { token: alice.token, headers: { 'x-min-position': String(position) } });
      expect(read.status).toBe(200);
    });
  });
});
