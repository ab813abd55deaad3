import { randomBytes } from 'node:crypto';
import type { PoolClient } from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { EventStore } from '../../src/events/store.js';
import type { StoredEvent } from '../../src/events/types.js';
import type { Projection } from '../../src/projections/projection.js';
import { startProjections } from '../../src/projections/runtime.js';
import { listDeadLetters, projectionStatuses } from '../../src/projections/status.js';
import { closeServices, openServices } from '../../src/runtime.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { detectDeadlocksFast, holdTransaction } from '../helpers/deadlock.js';
import { testCatalog, testMetadata } from '../helpers/events.js';

const log = pino({ level: 'silent' });

/** Adds each increment to three rows, always locking them in the order z, x, y. */
const tangled: Projection = {
  name: 'tangled',
  version: 1,
  handles: ['CounterIncremented'],
  tables: [],
  onPoison: 'halt',
  async apply(event: StoredEvent, client: PoolClient) {
    const { by } = event.data as { by: number };
    for (const id of ['z', 'x', 'y']) await client.query('update tangled_rows set total = total + $2 where id = $1', [id, by]);
  },
};

describe('a deadlock in a projection', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await detectDeadlocksFast(db);
    await db.pool.query(`create table tangled_rows (id text primary key, total int not null)`);
    await db.pool.query(`insert into tangled_rows values ('x', 0), ('y', 0), ('z', 0)`);
  });
  afterAll(async () => { await db?.drop(); });

  it('is an infrastructure error: the batch fails and is retried, nothing is dead-lettered, the projection reaches the event', async () => {
    const config = loadConfig({ env: {}, overrides: {
      mode: 'test', database: { url: db.url }, logging: { level: 'silent' },
      redis: { prefix: `t${randomBytes(4).toString('hex')}`, url: inject('redisUrl') },
    } });
    const { services, embedded } = await openServices(config, log);
    services.store = new EventStore(services.database.pool, testCatalog());
    const running = await startProjections(services, [tangled]);
    const held = await holdTransaction(db);
    try {
      const appended = await services.store.appendToStream(
        { stream_id: 'tangle', stream_type: 'counter', expected: 'no_stream', events: [{ type: 'CounterIncremented', data: { by: 1 } }] },
        { metadata: testMetadata() });
      // The held transaction takes y; the projection takes z and x and waits for y.
      await held.client.query(`update tangled_rows set total = total where id = 'y'`);
      services.wakeups.wake([tangled.name]);
      await held.blockingSomeone();
      // Asking for x closes the cycle: PostgreSQL aborts the projection's apply with 40P01.
      await held.client.query(`update tangled_rows set total = total where id = 'x'`);
      // The apply runs again (a retried batch, or — were the deadlock taken for a poison event — the
      // runner's one-at-a-time pass), takes z and waits for x: asking for z deadlocks it once more.
      services.wakeups.wake([tangled.name]);
      await held.blockingSomeone();
      await held.client.query(`update tangled_rows set total = total where id = 'z'`);
      await held.end();
      services.wakeups.wake([tangled.name]);

      const reached = await services.progress.waitFor([tangled.name], appended.position, 15_000);
      expect(await listDeadLetters(db.pool, { projection: tangled.name })).toEqual([]);
      expect((await projectionStatuses(db.pool, [tangled]))[0]).toMatchObject({ halted: false, dead_letters: 0 });
      expect(reached).toBe(true);
      const { rows } = await db.pool.query('select id, total from tangled_rows order by id');
      expect(rows).toEqual([{ id: 'x', total: 1 }, { id: 'y', total: 1 }, { id: 'z', total: 1 }]);
    } finally {
      await held.end();
      await running.stop();
      await closeServices(services, embedded);
    }
  });
});
