import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '../../src/events/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { detectDeadlocksFast, holdTransaction } from '../helpers/deadlock.js';
import { testCatalog, testMetadata } from '../helpers/events.js';

const inc = (by: number) => ({ type: 'CounterIncremented', data: { by } });

describe('an append that loses a deadlock', () => {
  let db: TestDatabase;
  let store: EventStore;
  beforeAll(async () => {
    db = await createTestDatabase();
    await detectDeadlocksFast(db);
    store = new EventStore(db.pool, testCatalog());
  });
  afterAll(async () => { await db?.drop(); });

  // The held transaction takes version 2 of the stream; the append takes version 1 and waits for
  // version 2; the held transaction then asks for version 1: a cycle, and the append is aborted.
  async function deadlockedAppend(streamId: string, options: { command_id?: string; command_fingerprint?: string } = {}) {
    const held = await holdTransaction(db);
    try {
      await held.insertEvent(streamId, 2);
      const appending = store.appendToStream({ stream_id: streamId, stream_type: 'counter', expected: 'no_stream', events: [inc(1), inc(2)] }, { metadata: testMetadata(), ...options });
      // Keep a rejection from going unhandled while the test is still driving the deadlock.
      appending.catch(() => {});
      await held.blockingSomeone();
      // Returns only once the append's first attempt was aborted (it holds version 1 until then).
      await held.insertEvent(streamId, 1);
      await held.end();
      return await appending;
    } finally {
      await held.end();
    }
  }

  it('is run again and succeeds (the one-stream statement)', async () => {
    const result = await deadlockedAppend('tangle-lean');
    expect(result.events.map((e) => [e.version, e.data])).toEqual([[1, { by: 1 }], [2, { by: 2 }]]);
    expect((await store.readStream('tangle-lean')).map((e) => e.data)).toEqual([{ by: 1 }, { by: 2 }]);
  });

  it('is run again and succeeds (the general statement, with a command id)', async () => {
    const result = await deadlockedAppend('tangle-keyed', { command_id: 'tangle-cmd', command_fingerprint: 'f' });
    expect(result.replayed).toBe(false);
    expect((await store.readStream('tangle-keyed')).map((e) => e.data)).toEqual([{ by: 1 }, { by: 2 }]);
    expect((await store.commandResult('tangle-cmd'))?.events.map((e) => e.event_id)).toEqual(result.events.map((e) => e.event_id));
  });
});
