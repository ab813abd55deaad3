import { describe, expect, it } from 'vitest';
import { CommandIdReusedError, EventSchemaError, StreamChangedError, UnknownEventTypeError, VersionConflictError } from '../../src/events/errors.js';
import { withTransaction } from '../../src/infra/database.js';
import { useEventStore } from '../helpers/event-store.js';
import { testMetadata } from '../helpers/events.js';

describe('event store', () => {
  const ctx = useEventStore();

  const inc = (by = 1) => ({ type: 'CounterIncremented', data: { by } });

  it('appends to a new stream and reads it back with metadata', async () => {
    const r = await ctx.store.appendToStream({ stream_id: 'c-1', stream_type: 'counter', expected: 'no_stream', events: [inc(1), inc(2)] }, { metadata: testMetadata() });
    expect(r.streams).toEqual([{ stream_id: 'c-1', version: 2, first_position: r.events[0]!.position }]);
    expect(r.events.map((e) => e.version)).toEqual([1, 2]);
    expect(r.events[0]!.position).toBeLessThan(r.events[1]!.position);
    expect(r.events[0]!.event_id).toMatch(/^[0-9a-f-]{36}$/);
    const read = await ctx.store.readStream('c-1');
    expect(read.map((e) => e.data)).toEqual([{ by: 1 }, { by: 2 }]);
    expect(read[0]!.metadata).toMatchObject({ actor: { user_id: 'u-1', email: 'alice@tmi.local', provider: 'tmi' }, trace_id: 'trace-1', correlation_id: 'corr-1', request_id: 'req-1' });
    expect(read[0]!.stream_type).toBe('counter');
    expect(await ctx.store.streamVersion('c-1')).toBe(2);
    expect(await ctx.store.streamVersion('nope')).toBe(0);
  });

  it('reads a stream from a version', async () => {
    const read = await ctx.store.readStream('c-1', { fromVersion: 2 });
    expect(read.map((e) => e.version)).toEqual([2]);
  });

  it('refuses an exact expected version that is stale, naming stream, expected and actual', async () => {
    const err = await ctx.store.appendToStream({ stream_id: 'c-1', stream_type: 'counter', expected: 1, events: [inc()] }, { metadata: testMetadata() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect(err).toMatchObject({ stream_id: 'c-1', expected: 1, actual: 2 });
  });

  it('refuses an expected version ahead of the stream (no gaps in versions)', async () => {
    const err = await ctx.store.appendToStream({ stream_id: 'c-1', stream_type: 'counter', expected: 5, events: [inc()] }, { metadata: testMetadata() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'VersionConflictError', expected: 5, actual: 2 });
  });

  it('refuses no_stream for an existing stream and accepts any', async () => {
    await expect(ctx.store.appendToStream({ stream_id: 'c-1', stream_type: 'counter', expected: 'no_stream', events: [inc()] }, { metadata: testMetadata() }))
      .rejects.toMatchObject({ name: 'VersionConflictError', expected: 'no_stream', actual: 2 });
    const r = await ctx.store.appendToStream({ stream_id: 'c-1', stream_type: 'counter', expected: 'any', events: [inc()] }, { metadata: testMetadata() });
    expect(r.streams[0]!.version).toBe(3);
  });

  it('lets exactly one of two racing writers win an exact expected version', async () => {
    await ctx.store.appendToStream({ stream_id: 'race', stream_type: 'counter', expected: 'no_stream', events: [inc()] }, { metadata: testMetadata() });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () =>
      ctx.store.appendToStream({ stream_id: 'race', stream_type: 'counter', expected: 1, events: [inc()] }, { metadata: testMetadata() })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(VersionConflictError);
    expect(await ctx.store.streamVersion('race')).toBe(2);
  });

  it('serialises racing writers with expected any without losing one', async () => {
    await Promise.all(Array.from({ length: 10 }, () =>
      ctx.store.appendToStream({ stream_id: 'any-race', stream_type: 'counter', expected: 'any', events: [inc()] }, { metadata: testMetadata() })));
    const events = await ctx.store.readStream('any-race');
    expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('appends to several streams atomically: one stale stream fails them all', async () => {
    await ctx.store.appendToStream({ stream_id: 'm-a', stream_type: 'counter', expected: 'no_stream', events: [inc()] }, { metadata: testMetadata() });
    await expect(ctx.store.appendToStreams([
      { stream_id: 'm-a', stream_type: 'counter', expected: 1, events: [inc()] },
      { stream_id: 'm-b', stream_type: 'counter', expected: 3, events: [inc()] },
    ], { metadata: testMetadata() })).rejects.toMatchObject({ stream_id: 'm-b', expected: 3, actual: 0 });
    expect(await ctx.store.streamVersion('m-a')).toBe(1);
    expect(await ctx.store.streamVersion('m-b')).toBe(0);
    const ok = await ctx.store.appendToStreams([
      { stream_id: 'm-a', stream_type: 'counter', expected: 1, events: [inc()] },
      { stream_id: 'm-b', stream_type: 'counter', expected: 'no_stream', events: [inc(), inc()] },
    ], { metadata: testMetadata() });
    expect(ok.streams.map((s) => [s.stream_id, s.version])).toEqual([['m-a', 2], ['m-b', 2]]);
    const positions = ok.events.map((e) => e.position);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('appends only while a stream it relied on is unchanged in the given types (a parent guard)', async () => {
    const parent = await ctx.store.appendToStream({ stream_id: 'parent-1', stream_type: 'counter', expected: 'no_stream', events: [inc(), { type: 'NoteWritten', data: { title: 'p', body: '' } }] }, { metadata: testMetadata() });
    const since = parent.streams[0]!.version;
    const child = { stream_id: 'child-1', stream_type: 'counter', expected: 'no_stream' as const, events: [inc()] };
    // An unrelated change to the parent (another type) leaves the guard on NoteWritten intact.
    await ctx.store.appendToStream({ stream_id: 'parent-1', stream_type: 'counter', expected: since, events: [inc()] }, { metadata: testMetadata() });
    const ok = await ctx.store.appendToStreams([child], { metadata: testMetadata(), conditions: [{ stream_id: 'parent-1', unchanged_since: since, types: ['NoteWritten'] }] });
    expect(ok.streams.map((s) => [s.stream_id, s.version])).toEqual([['child-1', 1]]);
    expect(await ctx.store.streamVersion('parent-1')).toBe(3);
    // A change of a guarded type refuses the append, naming the parent and the version that broke it.
    await ctx.store.appendToStream({ stream_id: 'parent-1', stream_type: 'counter', expected: 3, events: [{ type: 'NoteWritten', data: { title: 'q', body: '' } }] }, { metadata: testMetadata() });
    const err = await ctx.store.appendToStreams([{ ...child, expected: 1 }], { metadata: testMetadata(), conditions: [{ stream_id: 'parent-1', unchanged_since: since, types: ['NoteWritten'] }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamChangedError);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect(err).toMatchObject({ stream_id: 'parent-1', expected: since, actual: 4 });
    expect(await ctx.store.streamVersion('child-1')).toBe(1);
    // Without types any later event breaks the guard; a guard at the current version holds.
    await expect(ctx.store.appendToStreams([{ ...child, expected: 1 }], { metadata: testMetadata(), conditions: [{ stream_id: 'parent-1', unchanged_since: 3 }] }))
      .rejects.toMatchObject({ name: 'StreamChangedError', actual: 4 });
    await ctx.store.appendToStreams([{ ...child, expected: 1 }], { metadata: testMetadata(), conditions: [{ stream_id: 'parent-1', unchanged_since: 4 }] });
    expect(await ctx.store.streamVersion('child-1')).toBe(2);
  });

  it('returns the original result for a reused command id and appends nothing', async () => {
    const first = await ctx.store.appendToStream({ stream_id: 'idem', stream_type: 'counter', expected: 'no_stream', events: [inc(5)] }, { metadata: testMetadata(), command_id: 'cmd-1' });
    const again = await ctx.store.appendToStream({ stream_id: 'idem', stream_type: 'counter', expected: 'no_stream', events: [inc(5)] }, { metadata: testMetadata(), command_id: 'cmd-1' });
    expect(again.replayed).toBe(true);
    expect(again.position).toBe(first.position);
    expect(again.events.map((e) => e.event_id)).toEqual(first.events.map((e) => e.event_id));
    expect(await ctx.store.streamVersion('idem')).toBe(1);
    // Racing duplicates: one appends, the others get its result.
    const racing = await Promise.all(Array.from({ length: 5 }, () =>
      ctx.store.appendToStream({ stream_id: 'idem-2', stream_type: 'counter', expected: 'any', events: [inc()] }, { metadata: testMetadata(), command_id: 'cmd-2' })));
    expect(new Set(racing.map((r) => r.events[0]!.event_id)).size).toBe(1);
    expect(await ctx.store.streamVersion('idem-2')).toBe(1);
  });

  it('refuses a command id used again with another fingerprint, in the append itself, and appends nothing', async () => {
    const append = (stream: string, fingerprint?: string) =>
      ctx.store.appendToStream({ stream_id: stream, stream_type: 'counter', expected: 'any', events: [inc()] },
        { metadata: testMetadata(), command_id: 'cmd-fp', ...(fingerprint ? { command_fingerprint: fingerprint } : {}) });
    const first = await append('fp-a', 'request-1');
    await expect(append('fp-b', 'request-2')).rejects.toMatchObject({ name: 'CommandIdReusedError', command_id: 'cmd-fp' });
    await expect(append('fp-a', 'request-2')).rejects.toBeInstanceOf(CommandIdReusedError);
    expect(await ctx.store.streamVersion('fp-a')).toBe(1);
    expect(await ctx.store.streamVersion('fp-b')).toBe(0);
    const same = await append('fp-b', 'request-1');
    expect(same.replayed).toBe(true);
    expect(same.events.map((e) => e.event_id)).toEqual(first.events.map((e) => e.event_id));
    // A caller that gives no fingerprint (or an id stored before fingerprints) replays as before.
    expect((await append('fp-c')).replayed).toBe(true);
    await expect(ctx.store.commandResult('cmd-fp', { fingerprint: 'request-2' })).rejects.toBeInstanceOf(CommandIdReusedError);
    expect((await ctx.store.commandResult('cmd-fp', { fingerprint: 'request-1' }))?.position).toBe(first.position);
  });

  it('validates event data against the catalog and refuses unknown types', async () => {
    await expect(ctx.store.appendToStream({ stream_id: 'bad', stream_type: 'counter', expected: 'any', events: [{ type: 'CounterIncremented', data: { by: 'x' } }] }, { metadata: testMetadata() }))
      .rejects.toBeInstanceOf(EventSchemaError);
    await expect(ctx.store.appendToStream({ stream_id: 'bad', stream_type: 'counter', expected: 'any', events: [{ type: 'Nope', data: {} }] }, { metadata: testMetadata() }))
      .rejects.toBeInstanceOf(UnknownEventTypeError);
    expect(await ctx.store.streamVersion('bad')).toBe(0);
  });

  it('upcasts old event versions on read', async () => {
    // An event stored at v1 before NoteWritten gained its v2 shape.
    await ctx.db.pool.query(
      // Written past the store, so its hash (which the column requires) is a placeholder: this test reads, it does not verify.
      `insert into events (position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, hash)
       values ((pg_current_xact_id()::text::bigint << 16), gen_random_uuid(), 'note-1', 'note', 1, 'NoteWritten', 1, '{"text":"hello"}', '{}', '\\x00')`);
    const [e] = await ctx.store.readStream('note-1');
    expect(e!.schema_version).toBe(2);
    expect(e!.data).toEqual({ title: '(untitled)', body: 'hello' });
  });

  it('reads the global order after a position, in batches, filtered by type', async () => {
    await ctx.store.appendToStream({ stream_id: 'named', stream_type: 'counter', expected: 'any', events: [{ type: 'CounterNamed', data: { name: 'n' } }] }, { metadata: testMetadata() });
    // Other test files share the cluster; their open transactions may hold the horizon back a moment.
    const head = await ctx.store.headPosition();
    const all: number[] = [];
    let after = 0;
    while (after < head) {
      const batch = await ctx.store.readAll({ after, limit: 3 });
      all.push(...batch.events.map((e) => e.position));
      after = batch.settled_through;
    }
    expect(all).toEqual([...all].sort((a, b) => a - b));
    expect(new Set(all).size).toBe(all.length);
    const { rows } = await ctx.db.pool.query<{ n: number }>('select count(*)::int as n from events');
    expect(all.length).toBe(rows[0]!.n);
    const named = await ctx.store.readAll({ after: 0, limit: 100, types: ['CounterNamed'] });
    expect(named.events.map((e) => e.type)).toEqual(['CounterNamed']);
    expect(named.settled_through).toBeGreaterThanOrEqual(Math.max(...all));
  });

  it('does not read past an open transaction, then reads its events once it commits', async () => {
    const before = await ctx.store.readAll({ after: 0, limit: 10_000 });
    const head = before.settled_through;
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const open = withTransaction(ctx.db.pool, async (client) => {
      await ctx.store.appendToStream({ stream_id: 'slow', stream_type: 'counter', expected: 'no_stream', events: [inc()] }, { metadata: testMetadata(), client });
      await held;
    });
    // A later, faster writer commits first; its event has a higher position but must wait behind the open one.
    await new Promise((r) => setTimeout(r, 50));
    await ctx.store.appendToStream({ stream_id: 'fast', stream_type: 'counter', expected: 'no_stream', events: [inc()] }, { metadata: testMetadata() });
    const during = await ctx.store.readAll({ after: head, limit: 100 });
    expect(during.events.map((e) => e.stream_id)).not.toContain('fast');
    release();
    await open;
    const seen: string[] = [];
    let checkpoint = head;
    const last = await ctx.store.headPosition();
    while (checkpoint < last) {
      const batch = await ctx.store.readAll({ after: checkpoint, limit: 100 });
      seen.push(...batch.events.map((e) => e.stream_id));
      checkpoint = batch.settled_through;
    }
    expect(seen).toEqual(['slow', 'fast']);
  });

  it('refuses to update or delete stored events', async () => {
    await expect(ctx.db.pool.query(`update events set data = '{}' where stream_id = 'c-1'`)).rejects.toThrow(/immutable/);
    await expect(ctx.db.pool.query(`delete from events where stream_id = 'c-1'`)).rejects.toThrow(/immutable/);
  });
});
