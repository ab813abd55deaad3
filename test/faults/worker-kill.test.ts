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
import { THREAT_MODELS_PROJECTION } from '../../src/projections/threat-models.js';
import { awaitCatchUp, caughtUp } from './caught-up.js';
import { spawnService, type ServiceProcess } from './service-process.js';

/** Threat models created while no projector runs: the killed batch's inserts into threat_models. */
const BACKLOG_MODELS = 20;

/**
 * kill -9 of a `worker` process in the middle of a projection batch, after the batch has written
 * rows and before it commits. A batch (ProjectionRunner.runBatch) applies its events to the read
 * tables first and moves its checkpoint last, in one transaction; the test holds the threat-models
 * projection's checkpoint row locked, so that batch stops at its checkpoint move with its writes
 * done. The kill lands once PostgreSQL shows exactly that: the worker's session waiting on a lock
 * in the checkpoint update while holding RowExclusiveLock on threat_models (it wrote there);
 * afterwards the table's statistics count the inserts the rolled-back batch had made. A restarted worker catches up, and every projection's read
 * tables must then equal a fresh build from the same events (the rebuild's shadow path: each
 * projection built from position 0 into a schema of its own, compared table by table with
 * tableDigest).
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
    for (let i = 0; i < BACKLOG_MODELS; i++) await post('/threat_models', { name: `backlog ${i}`, threat_model_framework: 'STRIDE' });
    await api.runtime.stop();
    expect(await caughtUp(database.pool)).toBe(false);

    const projectedBefore = await threatModelRows(database.pool);
    const insertsBefore = await threatModelInserts(database.pool);
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    let killed: BatchAtCommit;
    try {
      await holder.query('begin');
      await holder.query('select 1 from projection_checkpoints where name = $1 for update', [THREAT_MODELS_PROJECTION]);
      workers.push(await spawnService('worker', env));
      killed = await eventually('the worker\'s threat-models batch has written and waits at its checkpoint move', () => batchAtCommit(database.pool), { deadlineMs: 60_000 });
      workers[0]!.child.kill('SIGKILL');
      expect(await workers[0]!.exited).toBeNull();
    } finally {
      await holder.query('commit');
      await holder.end();
    }
    // Once PostgreSQL has ended the killed worker's session (it finds the client gone after the lock is released), its
    // transaction is rolled back: the statistics then count the rows the batch had inserted, and the table shows none of them.
    await eventually('the killed worker\'s session has ended', async () => {
      const { rows } = await database.pool.query('select 1 from pg_stat_activity where pid = $1', [killed.pid]);
      return rows.length === 0;
    });
    await eventually('the killed batch\'s inserts of every backlog model are counted', async () => await threatModelInserts(database.pool) - insertsBefore >= BACKLOG_MODELS);
    expect(await threatModelRows(database.pool)).toEqual(projectedBefore);
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
    expect(models2.shadow.rows).toBe(projectedBefore.length + BACKLOG_MODELS);
  }, 180_000);
});

/** A session of this database stopped by a lock in a transaction that has written threat_models. */
interface BatchAtCommit { pid: number }

/**
 * The threat-models batch with its events applied, waiting at the checkpoint move: a session
 * waiting on a lock (the test's row lock on the checkpoint) in a transaction that holds
 * RowExclusiveLock on threat_models, which only a write there takes. Null while there is none.
 */
async function batchAtCommit(pool: pg.Pool): Promise<BatchAtCommit | null> {
  const { rows } = await pool.query<BatchAtCommit>(
    `select a.pid
       from pg_stat_activity a
      where a.datname = current_database() and a.wait_event_type = 'Lock' and a.query like '%update projection_checkpoints%'
        and exists (select 1 from pg_locks l where l.pid = a.pid and l.granted and l.mode = 'RowExclusiveLock' and l.relation = 'threat_models'::regclass)`);
  return rows[0] ?? null;
}

/** Rows ever inserted into threat_models, rolled back ones included (PostgreSQL's statistics, flushed when a session ends). */
async function threatModelInserts(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>("select n_tup_ins::text as n from pg_stat_user_tables where relid = 'threat_models'::regclass");
  return Number(rows[0]!.n);
}

/** The threat models the read table shows, ordered: what a batch left there. */
async function threatModelRows(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>('select id from threat_models order by id');
  return rows.map((r) => r.id);
}
