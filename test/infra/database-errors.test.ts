import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSACTION_CONFLICT_RETRIES, isDatabaseUnavailable, retryOnConflict, transientDatabaseError } from '../../src/infra/database-errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/ports.js';

/** Every error classified here is produced by a real PostgreSQL (or a real refused connection). */
describe('transient database errors', () => {
  let db: TestDatabase;
  const errors: Record<string, unknown> = {};
  const clients: pg.Client[] = [];
  const connect = async () => {
    const c = new pg.Client({ connectionString: db.url });
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
    return c;
  };
  const caught = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (err: unknown) => err);

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query('create table rows (id text primary key, v int not null check (v >= 0))');
    await db.pool.query(`insert into rows values ('a', 0), ('b', 0)`);

    // Two serializable transactions that each read what the other writes.
    const [s1, s2] = [await connect(), await connect()];
    for (const s of [s1, s2]) await s.query('begin isolation level serializable');
    await s1.query('select sum(v) from rows');
    await s2.query('select sum(v) from rows');
    await s1.query(`update rows set v = v + 1 where id = 'a'`);
    await s2.query(`update rows set v = v + 1 where id = 'b'`);
    await s1.query('commit');
    errors.serialization = await caught(s2.query('commit'));

    // Two transactions locking two rows in opposite orders; d1 waits long, so d2 detects the cycle.
    const [d1, d2] = [await connect(), await connect()];
    await d1.query(`begin; set local deadlock_timeout = '30s'`);
    await d2.query(`begin; set local deadlock_timeout = '100ms'`);
    await d1.query(`update rows set v = v where id = 'a'`);
    await d2.query(`update rows set v = v where id = 'b'`);
    const d1Waits = d1.query(`update rows set v = v where id = 'b'`);
    for (;;) {
      const { rows } = await db.pool.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`);
      if (rows[0]!.n > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    errors.deadlock = await caught(d2.query(`update rows set v = v where id = 'a'`));
    await d2.query('rollback');
    await d1Waits;
    await d1.query('rollback');

    // A row lock that cannot be had within lock_timeout, and a statement cut off by statement_timeout.
    const [l1, l2] = [await connect(), await connect()];
    await l1.query(`begin; update rows set v = v where id = 'a'`);
    await l2.query(`set lock_timeout = '50ms'`);
    errors.lockTimeout = await caught(l2.query(`update rows set v = v where id = 'a'`));
    await l1.query('rollback');
    await l2.query(`set statement_timeout = '50ms'`);
    errors.statementTimeout = await caught(l2.query('select pg_sleep(5)'));

    // A connection the server ends, and one nobody answers.
    const victim = await connect();
    const { rows: [me] } = await victim.query<{ pid: number }>('select pg_backend_pid() as pid');
    await db.pool.query('select pg_terminate_backend($1)', [me!.pid]);
    errors.terminated = await caught(victim.query('select 1'));
    const nobody = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/postgres` });
    errors.refused = await caught(nobody.connect());

    errors.unique = await caught(db.pool.query(`insert into rows values ('a', 1)`));
    errors.check = await caught(db.pool.query(`update rows set v = -1 where id = 'a'`));
  });
  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await db?.drop();
  });

  it('are classified in one place: conflicts, busy, unavailable; everything else is not transient', () => {
    expect(Object.fromEntries(Object.entries(errors).map(([k, e]) => [k, transientDatabaseError(e)]))).toEqual({
      serialization: 'conflict',
      deadlock: 'conflict',
      lockTimeout: 'busy',
      statementTimeout: 'busy',
      terminated: 'unavailable',
      refused: 'unavailable',
      unique: null,
      check: null,
    });
    expect(isDatabaseUnavailable(errors.terminated)).toBe(true);
    expect(isDatabaseUnavailable(errors.deadlock)).toBe(false);
    expect(transientDatabaseError(new TypeError('x is not a function'))).toBeNull();
    expect(transientDatabaseError(undefined)).toBeNull();
  });

  it('retryOnConflict re-runs work that lost a deadlock or serialization failure, a few times only', async () => {
    let attempts = 0;
    expect(await retryOnConflict(async () => {
      attempts++;
      if (attempts === 1) throw errors.serialization;
      if (attempts === 2) throw errors.deadlock;
      return 'done';
    })).toBe('done');
    expect(attempts).toBe(3);

    attempts = 0;
    await expect(retryOnConflict(async () => { attempts++; throw errors.deadlock; })).rejects.toBe(errors.deadlock);
    expect(attempts).toBe(TRANSACTION_CONFLICT_RETRIES + 1);

    for (const kind of ['unique', 'lockTimeout', 'terminated'] as const) {
      attempts = 0;
      await expect(retryOnConflict(async () => { attempts++; throw errors[kind]; })).rejects.toBe(errors[kind]);
      expect(attempts).toBe(1);
    }
  });
});
