import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '../../src/events/store.js';
import type { StoredEvent } from '../../src/events/types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { testCatalog, testMetadata } from '../helpers/events.js';
import { lockWaitersOn } from '../helpers/locks.js';

// Text a COPY must escape and the decoder undo, JSON's own escapes inside it, and characters of 2 to 4 UTF-8 bytes.
const TRICKY = ['tab\there', 'new\nline', 'cr\rlf\r\n', 'back\\slash', 'quote " and \\"', '\\N', '\\.', 'Zürich 東京 😀', '\u0001\u001f', '{"not": "json"}'];

/** The store's streamed COPY read against its paged SELECT: the same events, parsed the same. */
describe('EventStore.copyAll', () => {
  let db: TestDatabase;
  let store: EventStore;
  beforeAll(async () => {
    db = await createTestDatabase();
    store = new EventStore(db.pool, testCatalog());
    for (const [i, name] of TRICKY.entries()) {
      await store.appendToStream({ stream_id: `s\t${i}\\`, stream_type: 'counter', expected: 'no_stream', events: [
        { type: 'CounterNamed', data: { name } }, { type: 'CounterIncremented', data: { by: i } },
        { type: 'NoteWritten', data: { title: name, body: name.repeat(3) } },
      ] }, { metadata: testMetadata({ request_id: name, actor: { user_id: 'u-1', email: 'ü@tmi.local', provider: 'tmi\\x' } }) });
    }
    // One event larger than a network chunk, full of multibyte characters and escapes: it reaches the decoder in pieces.
    await store.appendToStream({ stream_id: 'big', stream_type: 'counter', expected: 'no_stream', events: [
      { type: 'NoteWritten', data: { title: 'big', body: '😀é\\\t\n東'.repeat(40_000) } },
    ] }, { metadata: testMetadata() });
  });
  afterAll(async () => { await db?.drop(); });

  async function copied(options: Parameters<EventStore['copyAll']>[0]): Promise<{ events: StoredEvent[]; settled_through: number; batches: number }> {
    const events: StoredEvent[] = [];
    let batches = 0;
    const { settled_through } = await store.copyAll(options, (batch) => { events.push(...batch); batches++; });
    return { events, settled_through, batches };
  }

  it('reads every event exactly as the paged SELECT does: values, JSON, timestamps, order and settled position', async () => {
    const paged = await store.readAll({ after: 0, limit: 1_000 });
    const copy = await copied({ after: 0 });
    expect(copy.events).toHaveLength(TRICKY.length * 3 + 1);
    expect(copy.events).toEqual(paged.events);
    expect(copy.settled_through).toBe(paged.settled_through);
    expect(copy.batches).toBeGreaterThan(1);
    expect((copy.events.at(-1)!.data as { body: string }).body).toBe('😀é\\\t\n東'.repeat(40_000));
    // One append's events share its timestamp, each in a Date of its own.
    const [a, b] = copy.events;
    expect(a!.created_at).toEqual(b!.created_at);
    expect(a!.created_at).not.toBe(b!.created_at);
  });

  it('reads only the types asked for, after the position asked for', async () => {
    const all = await store.readAll({ after: 0, limit: 1_000 });
    const after = all.events[4]!.position;
    const types = ['NoteWritten', "it's not a type"];
    const copy = await copied({ after, types });
    expect(copy.events).toEqual((await store.readAll({ after, limit: 1_000, types })).events);
    expect(copy.events.length).toBeGreaterThan(0);
    expect(copy.events.every((e) => e.type === 'NoteWritten' && e.position > after)).toBe(true);
  });

  it('stops when told to, and the pool goes on serving', async () => {
    let batches = 0;
    const result = await store.copyAll({ after: 0 }, () => { batches++; return false; });
    expect(result.stopped).toBe(true);
    expect(batches).toBe(1);
    for (let i = 0; i < 5; i++) expect((await copied({ after: 0 })).events).toHaveLength(TRICKY.length * 3 + 1);
  });

  it('an abort ends a read at once, also while its COPY waits and sends nothing; the pool goes on serving', async () => {
    const aborted = new AbortController();
    aborted.abort(new Error('stopped before it began'));
    await expect(store.copyAll({ after: 0, signal: aborted.signal }, () => {})).rejects.toThrow('stopped before it began');
    // The COPY waits at the table's lock: nothing arrives until the abort.
    const holder = await db.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table events in access exclusive mode');
      const controller = new AbortController();
      const read = store.copyAll({ after: 0, types: ['NoteWritten'], signal: controller.signal }, () => {});
      await expect.poll(() => lockWaitersOn(db.pool, 'events'), { timeout: 10_000 }).toBe(1);
      controller.abort(new Error('shutting down'));
      await expect(read).rejects.toThrow('shutting down');
    } finally {
      await holder.query('rollback');
      holder.release();
    }
    expect((await copied({ after: 0 })).events).toHaveLength(TRICKY.length * 3 + 1);
  });

  it('an error thrown by the consumer is the read\'s error', async () => {
    await expect(store.copyAll({ after: 0 }, () => { throw new Error('fold broke'); })).rejects.toThrow('fold broke');
    expect((await copied({ after: 0 })).events).toHaveLength(TRICKY.length * 3 + 1);
  });
});
