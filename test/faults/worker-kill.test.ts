import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { eventCatalog } from '../../src/events/registry.js';
import { EventStore } from '../../src/events/store.js';
import { ProjectionRebuild, type VerifyReport } from '../../src/projections/rebuild.js';
import { projections } from '../../src/projections/registry.js';
import { startTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { KIND_SPECS } from '../child-resources/kinds.js';
import { populatedThreatModel } from '../history/fixtures.js';
import { signIn } from '../threat-models/helpers.js';
import { awaitCatchUp, caughtUp } from './caught-up.js';
import { spawnService, type ServiceProcess } from './service-process.js';

/**
 * kill -9 of a `worker` process in the middle of a projection batch. "In the middle" is made
 * certain: the test holds an exclusive lock on the threat models' read table, so the worker's
 * batch blocks inside its transaction at its first write there (seen in pg_locks); the worker
 * is killed right then. A restarted worker catches up, and every projection's read tables must
 * then equal a fresh build from the same events (the rebuild's shadow path: each projection
 * built from position 0 into a schema of its own, compared table by table with tableDigest).
 */
describe('a worker killed mid-batch', () => {
  let database: TestDatabase;
  const workers: ServiceProcess[] = [];
  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await database?.drop();
  });

  it('restarted, it catches up to read tables equal to a fresh rebuild', async () => {
    database = await createTestDatabase();
    const prefix = `kill${randomBytes(4).toString('hex')}`;
    const env = { databaseUrl: database.url, redisUrl: inject('redisUrl'), redisPrefix: prefix };

    // Models the later commands build on, projected as usual (their children's access checks read the projections).
    const writer = await startTestApp({ database, overrides: { redis: { prefix } } });
    const owner = signIn(writer, 'kill-olga');
    const models = [];
    for (let i = 0; i < 3; i++) models.push(await populatedThreatModel(writer, owner.token));
    await writer.runtime.stop();

    // A backlog for the worker: commands accepted while no projector runs.
    const api = await startTestApp({ database, overrides: { redis: { prefix }, server: { run_projections: false, read_your_writes_timeout_ms: 0 } } });
    // The same user, signed for this instance (its issuer is its own URL).
    const same = signIn(api, 'kill-olga');
    const post = async (path: string, body: unknown) => {
      const res = await api.request(path, { method: 'POST', token: same.token, json: body });
      expect([201, 202], `${path}: ${res.status}`).toContain(res.status);
    };
    for (const m of models) for (const { plural, valid } of KIND_SPECS) await post(`/threat_models/${m.id}/${plural}`, valid);
    for (let i = 0; i < 20; i++) await post('/threat_models', { name: `backlog ${i}`, threat_model_framework: 'STRIDE' });
    await api.runtime.stop();
    expect(await caughtUp(database.pool)).toBe(false);

    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table threat_models in exclusive mode');
      workers.push(await spawnService('worker', env));
      await eventually('the worker\'s batch waits at its write to threat_models', async () => {
        const { rows } = await database.pool.query<{ n: number }>(
          "select count(*)::int as n from pg_locks where not granted and relation = 'threat_models'::regclass and database = (select oid from pg_database where datname = current_database())");
        return rows[0]!.n > 0;
      }, { deadlineMs: 60_000 });
      workers[0]!.child.kill('SIGKILL');
      expect(await workers[0]!.exited).toBeNull();
    } finally {
      await holder.query('commit');
      await holder.end();
    }
    // The killed worker's batch wrote nothing that stayed: its transaction is rolled back once PostgreSQL sees the client gone.
    expect(await caughtUp(database.pool)).toBe(false);

    workers.push(await spawnService('worker', env));
    await awaitCatchUp(database.pool, 'the restarted worker has caught up', 90_000);

    const store = new EventStore(database.pool, eventCatalog);
    const reports: VerifyReport[] = [];
    for (const projection of projections) {
      const rebuild = new ProjectionRebuild(database.pool, store, projection);
      await rebuild.prepare();
      await rebuild.build();
      reports.push(await rebuild.verify());
      await rebuild.discard();
    }
    const differing = reports.filter((r) => !r.ok || !r.compared);
    expect(differing, JSON.stringify(differing, null, 2)).toEqual([]);
    // Not an empty comparison: the tables hold what the backlog made.
    const models2 = reports.find((r) => r.projection === projections[2]!.name)!.tables.find((t) => t.table === 'threat_models')!;
    expect(models2.shadow.rows).toBe(23);
  }, 180_000);
});
