import { afterAll, beforeAll } from 'vitest';
import { EventStore } from '../../src/events/store.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { testCatalog } from './events.js';

/** What a store-level test block works on, set once its `beforeAll` ran. */
export interface EventStoreContext { db: TestDatabase; store: EventStore }

/**
 * For the calling describe block: a fresh migrated database of its own and an event store on it
 * with the test catalog, dropped after the block.
 */
export function useEventStore(): EventStoreContext {
  const ctx = {} as EventStoreContext;
  beforeAll(async () => {
    ctx.db = await createTestDatabase();
    ctx.store = new EventStore(ctx.db.pool, testCatalog());
  });
  afterAll(async () => { await ctx.db?.drop(); });
  return ctx;
}
