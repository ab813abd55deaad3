import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/** The position offset only grows (migration 0036): lowering it, or removing its row, is refused. */
describe('event position offset', () => {
  let db: TestDatabase;
  beforeAll(async () => { db = await createTestDatabase(); });
  afterAll(async () => { await db?.drop(); });

  const offset = async () => Number((await db.pool.query<{ xid_offset: string }>('select xid_offset from event_position_offset')).rows[0]!.xid_offset);

  it('grows, and refuses to shrink, to lose its row or to be emptied', async () => {
    await db.pool.query('update event_position_offset set xid_offset = 1000');
    expect(await offset()).toBe(1000);
    await db.pool.query('update event_position_offset set xid_offset = 1000');
    await expect(db.pool.query('update event_position_offset set xid_offset = 999')).rejects.toThrow(/only grows \(1000 to 999\)/);
    await expect(db.pool.query('delete from event_position_offset')).rejects.toThrow(/never removed \(DELETE\)/);
    await expect(db.pool.query('truncate event_position_offset')).rejects.toThrow(/never removed \(TRUNCATE\)/);
    expect(await offset()).toBe(1000);
  });
});
