import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEvents } from '../../bench/rebuild/generate.js';
import { MAX_EVENTS_PER_APPEND } from '../../src/events/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// bench/rebuild generates its million events through the store's multi-stream append, which
// takes at most MAX_EVENTS_PER_APPEND events at once; the generator's batches must fit in it.

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

describe('rebuild bench generator', () => {
  it('writes more events than one append takes, in appends the store accepts', async () => {
    const { total, byType } = await generateEvents(database.pool, MAX_EVENTS_PER_APPEND + 1, () => {});
    expect(total).toBeGreaterThan(MAX_EVENTS_PER_APPEND);
    const { rows } = await database.pool.query<{ n: string }>('select count(*) as n from events');
    expect(Number(rows[0]!.n)).toBe(total);
    expect(Object.values(byType).reduce((a, b) => a + b, 0)).toBe(total);
  }, 120_000);
});
