import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgressWatch } from '../../bench/lag/progress.js';
import { PROGRESS_CHANNEL } from '../../src/projections/runner.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// bench/lag counts a command visible once every projection serving threat models has passed its
// position, as seen from outside through the projectors' progress NOTIFYs.

let database: TestDatabase;
let notifier: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  notifier = new pg.Client({ connectionString: database.url });
  await notifier.connect();
});

afterAll(async () => {
  await notifier.end();
  await database.drop();
});

const notify = (payload: string) => notifier.query('select pg_notify($1, $2)', [PROGRESS_CHANNEL, payload]);

describe('projection progress watch', () => {
  it('knows when every named checkpoint has passed a position, and not before', async () => {
    await database.pool.query(`insert into projection_checkpoints (name, version, position) values ('a', 1, 3), ('b', 1, 0)`);
    const watch = await ProgressWatch.open(database.url, PROGRESS_CHANNEL, { table: 'projection_checkpoints', names: ['a', 'b'] });
    try {
      expect(watch.visibleAt(['a'], 3)).not.toBeNaN();
      expect(watch.visibleAt(['a', 'b'], 3)).toBeNaN();

      await notify('b:5');
      const afterB = await watch.waitVisible(['a', 'b'], 3, 10_000);
      expect(afterB).not.toBeNaN();
      expect(watch.visibleAt(['a', 'b'], 4)).toBeNaN();

      const both = watch.waitVisible(['a', 'b'], 10, 10_000);
      await notify('a:12');
      const aAt = await watch.waitVisible(['a'], 10, 10_000);
      await notify('a:7'); // an older position is no step back
      expect(watch.visibleAt(['a', 'b'], 10)).toBeNaN(); // b is still at 5
      await notify('b:10');
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
