import { describe, expect, it } from 'vitest';
import { tableDigest } from '../../src/projections/table-digest.js';
import { useEventStore } from '../helpers/event-store.js';

describe('tableDigest', () => {
  const ctx = useEventStore();

  it('depends on the rows only: not on their order, the session time zone or the column order', async () => {
    const { pool } = ctx.db;
    await pool.query(`create table digest_a (id int primary key, at timestamptz not null, body jsonb, tags text[])`);
    await pool.query(`create table digest_b (tags text[], body jsonb, at timestamptz not null, id int primary key)`);
    await pool.query(`insert into digest_a values (1, '2026-12-04T10:00:00.123456Z', '{"b": 1, "a": [1.50, null]}', '{x,y}'), (2, '2026-01-01T00:00:00Z', null, null)`);
    await pool.query(`insert into digest_b (id, at, body, tags) values (2, '2026-01-01T01:00:00+01:00', null, null), (1, '2026-12-04T10:00:00.123456Z', '{"a": [1.50, null], "b": 1}', '{x,y}')`);
    const a = await tableDigest(pool, 'digest_a');
    expect(a.rows).toBe(2);
    expect(a.digest).toMatch(/^[0-9a-f]{64}$/);
    const client = await pool.connect();
    try {
      await client.query(`set timezone = 'America/New_York'`);
      expect(await tableDigest(client, 'digest_b')).toEqual(a);
    } finally {
      await client.query('reset timezone');
      client.release();
    }
  });

  it('changes with any value, a missing row or a duplicated one', async () => {
    const { pool } = ctx.db;
    await pool.query(`create table digest_c (id int, n numeric, at timestamptz)`);
    await pool.query(`insert into digest_c values (1, 1.5, '2026-12-04T10:00:00Z'), (2, 2, '2026-12-04T10:00:00Z')`);
    const before = await tableDigest(pool, 'digest_c');
    const seen = new Set([before.digest]);
    const variant = async (sql: string, undo: string) => {
      await pool.query(sql);
      const d = await tableDigest(pool, 'digest_c');
      await pool.query(undo);
      expect(seen.has(d.digest), sql).toBe(false);
      seen.add(d.digest);
    };
    await variant(`update digest_c set n = 1.50 where id = 1`, `update digest_c set n = 1.5 where id = 1`);
    await variant(`update digest_c set at = at + interval '1 microsecond' where id = 2`, `update digest_c set at = at - interval '1 microsecond' where id = 2`);
    await variant(`delete from digest_c where id = 2`, `insert into digest_c values (2, 2, '2026-12-04T10:00:00Z')`);
    await variant(`insert into digest_c values (2, 2, '2026-12-04T10:00:00Z')`, `delete from digest_c where ctid = (select max(ctid) from digest_c)`);
    expect(await tableDigest(pool, 'digest_c')).toEqual(before);
    const empty = await tableDigest(pool, 'digest_c_empty').catch((err: Error) => err.message);
    expect(empty).toMatch(/does not exist/);
  });
});
