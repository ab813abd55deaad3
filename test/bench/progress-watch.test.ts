import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HorizonWatch, ProgressWatch } from '../../bench/lag/progress.js';
import { PROGRESS_CHANNEL } from '../../src/projections/runner.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';

// bench/lag counts a command visible once every projection serving threat models has passed its
// position, as seen from outside through the projectors' progress NOTIFYs.

let database: TestDatabase;
let other: TestDatabase;
let notifier: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  other = await createTestDatabase();
  notifier = new pg.Client({ connectionString: database.url });
  await notifier.connect();
});

afterAll(async () => {
  await notifier.end();
  await database.drop();
  await other.drop();
});

const notify = (payload: string) => notifier.query('select pg_notify($1, $2)', [PROGRESS_CHANNEL, payload]);

describe('projection progress watch', () => {
  it('knows when every named checkpoint has passed a position, and not before', async () => {
    await database.pool.query(`insert into projection_checkpoints (name, version, position) values ('a', 1, 3), ('b', 1, 0)`);
    const watch = await ProgressWatch.open(database.url, PROGRESS_CHANNEL, { table: 'projection_checkpoints', names: ['a', 'b'] });
    try {
      expect(watch.visibleAt(['a'], 3)).not.toBeNaN();
      expect(watch.visibleAt(['a', 'b'], 3)).toBeNaN();

      await notify('b:1:5:');
      const afterB = await watch.waitVisible(['a', 'b'], 3, 10_000);
      expect(afterB).not.toBeNaN();
      expect(watch.visibleAt(['a', 'b'], 4)).toBeNaN();

      const both = watch.waitVisible(['a', 'b'], 10, 10_000);
      await notify('a:1:12:');
      const aAt = await watch.waitVisible(['a'], 10, 10_000);
      await notify('a:1:7:'); // an older position is no step back
      expect(watch.visibleAt(['a', 'b'], 10)).toBeNaN(); // b is still at 5
      await notify('b:1:10:');
      // Visible once the last of them passed: b's step to 10, after a's step to 12.
      const bothAt = await both;
      expect(bothAt).toBeGreaterThan(aAt);
      expect(watch.visibleAt(['a', 'b'], 10)).toBe(bothAt);
      expect(watch.visibleAt(['a'], 12)).toBe(aAt);
      expect(watch.visibleAt(['a', 'b'], 11)).toBeNaN();
    } finally {
      await watch.close();
    }
  });
});

describe('horizon watch', () => {
  const xidPosition = async (pool: pg.Pool) => Number((await pool.query<{ x: string }>('select pg_current_xact_id()::text as x')).rows[0]!.x) * 2 ** 16;

  it('counts the time another database holds the oldest transaction, which the horizon does not wait for', async () => {
    const horizon = await HorizonWatch.open(database.url, database.name, 1);
    const foreign = new pg.Client({ connectionString: other.url });
    await foreign.connect();
    try {
      const t0 = performance.now();
      await foreign.query('begin');
      await foreign.query('select pg_current_xact_id()');
      // A transaction of ours that commits after the foreign one began: its position is above the foreign xid.
      const position = await xidPosition(database.pool);
      await eventually('a poll that saw the foreign holder', () => horizon.foreignBetween(t0, performance.now()) > 0, { everyMs: 10 });
      await eventually('the horizon to pass while the foreign transaction is open', () => !Number.isNaN(horizon.passedAt(position)), { everyMs: 10 });
    } finally {
      await foreign.query('rollback').catch(() => {});
      await foreign.end();
      await horizon.close();
    }
  });

  it('sees an open write transaction of its own database hold the horizon below a later commit', async () => {
    const horizon = await HorizonWatch.open(database.url, database.name, 1);
    const own = await database.pool.connect();
    try {
      await own.query('begin');
      await own.query('select pg_current_xact_id()');
      const position = await xidPosition(database.pool);
      // Some polls after that commit, the horizon has still not passed it.
      const seen = horizon.pollCount();
      await eventually('a few polls', () => horizon.pollCount() > seen + 3, { everyMs: 5 });
      expect(horizon.passedAt(position)).toBeNaN();
      const committedAt = performance.now();
      await own.query('commit');
      const passed = await eventually('the horizon to pass', () => (Number.isNaN(horizon.passedAt(position)) ? null : horizon.passedAt(position)), { everyMs: 10 });
      expect(passed).toBeGreaterThan(committedAt);
    } finally {
      own.release();
      await horizon.close();
    }
  });
});
