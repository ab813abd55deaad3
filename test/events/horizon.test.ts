import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECLARE_NON_APPENDING_SQL } from '../../src/events/position.js';
import { EventStore } from '../../src/events/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { testCatalog, testMetadata } from '../helpers/events.js';

/**
 * The safe horizon waits only for transactions that might still commit an event: an open
 * transaction of another database, or one declared non-appending (a projector's batch), does
 * not hold readers back; an ordinary open write transaction of this database does.
 */
describe('safe horizon: who readers wait for', () => {
  let db: TestDatabase;
  let other: TestDatabase;
  let store: EventStore;
  beforeAll(async () => {
    db = await createTestDatabase();
    other = await createTestDatabase();
    store = new EventStore(db.pool, testCatalog());
  });
  afterAll(async () => {
    await db?.drop();
    await other?.drop();
  });

  const append = (stream: string) =>
    store.appendToStream({ stream_id: stream, stream_type: 'counter', expected: 'any', events: [{ type: 'CounterIncremented', data: { by: 1 } }] }, { metadata: testMetadata() });
  const readable = async (position: number) => (await store.readAll({ after: position - 1, limit: 10 })).events.some((e) => e.position === position);
  /** Opens a transaction that holds a transaction id, after `setup`; the caller ends it. */
  const openWithXid = async (pool: pg.Pool, setup?: string): Promise<pg.PoolClient> => {
    const client = await pool.connect();
    await client.query('begin');
    if (setup) await client.query(setup);
    await client.query('select pg_current_xact_id()');
    return client;
  };
  const end = async (client: pg.PoolClient) => {
    await client.query('rollback');
    client.release();
  };

  it('an ordinary open write transaction of this database holds later events back until it ends', async () => {
    const writer = await openWithXid(db.pool);
    let e;
    try {
      e = await append('h-1');
      expect(await readable(e.events[0]!.position)).toBe(false);
    } finally {
      await end(writer);
    }
    expect(await readable(e.events[0]!.position)).toBe(true);
  });

  it('an open transaction of another database does not', async () => {
    const foreign = await openWithXid(other.pool);
    try {
      const e = await append('h-2');
      expect(await readable(e.events[0]!.position)).toBe(true);
    } finally {
      await end(foreign);
    }
  });

  it('a transaction declared non-appending does not, and cannot append', async () => {
    const projector = await openWithXid(db.pool, DECLARE_NON_APPENDING_SQL);
    try {
      const e = await append('h-3');
      expect(await readable(e.events[0]!.position)).toBe(true);
      await projector.query('savepoint s');
      const refused = await store.appendToStream({ stream_id: 'h-4', stream_type: 'counter', expected: 'any', events: [{ type: 'CounterIncremented', data: { by: 1 } }] }, { metadata: testMetadata(), client: projector })
        .catch((err: unknown) => err);
      expect(refused).toMatchObject({ constraint: 'events_not_from_non_appending_session' });
      await projector.query('rollback to savepoint s');
    } finally {
      await end(projector);
    }
    expect(await store.streamVersion('h-4')).toBe(0);
  });
});
