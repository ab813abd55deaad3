import pg from 'pg';
import { TRANSACTION_BASE_POSITION_SQL } from '../../src/events/position.js';
import type { TestDatabase } from './database.js';

/**
 * Tools for producing real deadlocks against the code under test. The test holds a transaction
 * that takes locks the code needs, waits until the code is blocked on it, then asks for a lock
 * the code holds: PostgreSQL detects the cycle and aborts one side. Which side is decided by
 * deadlock_timeout — the session whose timer runs out first checks for the cycle and is aborted —
 * so the database under test gets a short one and the test's own transaction a long one: the
 * code under test is always the one aborted, and quickly.
 */
export async function detectDeadlocksFast(db: TestDatabase): Promise<void> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    // Only sessions opened after this get it: call it before the code under test connects.
    await client.query(`alter database ${db.name} set deadlock_timeout = '100ms'`);
  } finally {
    await client.end();
  }
}

export interface HeldTransaction {
  client: pg.Client;
  pid: number;
  /** Inserts a (never committed) event row for a stream at a version, taking that (stream, version) key. */
  insertEvent(streamId: string, version: number): Promise<void>;
  /**
   * Resolves true once some other session waits for a lock this transaction holds, or false as
   * soon as `stop()` says there is no point waiting any more.
   */
  blockingSomeone(stop?: () => boolean): Promise<boolean>;
  end(): Promise<void>;
}

let rowInTransaction = 0;

export async function holdTransaction(db: TestDatabase): Promise<HeldTransaction> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query('begin');
  await client.query(`set local deadlock_timeout = '30s'`);
  await client.query(`set local lock_timeout = 0`);
  const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
  const pid = rows[0]!.pid;
  let ended = false;
  return {
    client,
    pid,
    async insertEvent(streamId, version) {
      await client.query(
        // A placeholder hash: the row only has to hold a key the other writer needs.
        `insert into events (position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, hash)
         values (${TRANSACTION_BASE_POSITION_SQL} + 30000 + $3, gen_random_uuid(), $1, 'counter', $2, 'CounterIncremented', 1, '{"by": 0}', '{}', '\\x00')`,
        [streamId, version, rowInTransaction++]);
    },
    async blockingSomeone(stop = () => false) {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const { rows: blocked } = await db.pool.query<{ n: number }>(
          'select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [pid]);
        if (blocked[0]!.n > 0) return true;
        if (stop()) return false;
        if (Date.now() > deadline) throw new Error('nothing got blocked by the held transaction');
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async end() {
      if (ended) return;
      ended = true;
      await client.query('rollback').catch(() => {});
      await client.end();
    },
  };
}
