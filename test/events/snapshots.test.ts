import { describe, expect, it } from 'vitest';
import { decideAndAppend, loadAggregate, type Decider } from '../../src/application/execute-command.js';
import { snapshotDue, type SnapshotPolicy } from '../../src/application/snapshots.js';
import { useEventStore } from '../helpers/event-store.js';
import { testMetadata } from '../helpers/events.js';

interface CounterState { total: number; increments: number; name: string; big?: bigint }
type CounterEvent = { type: 'CounterIncremented'; data: { by: number } } | { type: 'CounterNamed'; data: { name: string } };
type CounterCommand = { type: 'Add'; amounts: number[] } | { type: 'Name'; name: string };

/** A counter whose commands append one event per amount, so one command can cross a snapshot interval by several events. */
const counter = (snapshot?: SnapshotPolicy, extra: Partial<Decider<CounterState, CounterCommand, CounterEvent>> = {}): Decider<CounterState, CounterCommand, CounterEvent> => ({
  streamType: 'counter',
  initialState: () => ({ total: 0, increments: 0, name: '' }),
  evolve: (s, e) => (e.type === 'CounterIncremented' ? { ...s, total: s.total + e.data.by, increments: s.increments + 1 } : { ...s, name: e.data.name }),
  decide: (c) => (c.type === 'Add' ? c.amounts.map((by) => ({ type: 'CounterIncremented' as const, data: { by } })) : [{ type: 'CounterNamed' as const, data: { name: c.name } }]),
  ...(snapshot ? { snapshot } : {}),
  ...extra,
});

describe('snapshotDue', () => {
  it('is due once the stream is `every` or more events past the snapshot it was folded from', () => {
    const policy = { version: 1, every: 5 };
    expect(snapshotDue(policy, 0, 4)).toBe(false);
    expect(snapshotDue(policy, 0, 5)).toBe(true);
    expect(snapshotDue(policy, 0, 7)).toBe(true); // a multi-event append that jumps past the interval
    expect(snapshotDue(policy, 5, 9)).toBe(false);
    expect(snapshotDue(policy, 5, 10)).toBe(true);
  });
});

describe('snapshots in the shared load path', () => {
  const ctx = useEventStore();

  const run = (decider: Decider<CounterState, CounterCommand, CounterEvent>, streamId: string, command: CounterCommand) =>
    decideAndAppend(ctx.store, decider, command, { streamId, expectedVersion: null, commandId: null, metadata: testMetadata() });
  const snapshotRows = async (streamId: string) => (await ctx.db.pool.query<{ state_version: number; version: number }>(
    'select state_version, version from snapshots where stream_id = $1 order by state_version, version', [streamId])).rows;
  /** The state folded from the whole stream, without snapshots: what every snapshot-based load must equal. */
  const fullFold = (streamId: string, toVersion?: number) => loadAggregate({ store: ctx.store }, counter(), streamId, { toVersion });

  const v1 = counter({ version: 1, every: 5 });
  const stream = 'counter-snapshots';

  it('writes a snapshot after the append that takes the stream `every` events past the last one, multi-event appends included', async () => {
    const expectSnapshots = async (versions: number[]) => {
      await ctx.store.snapshots.idle();
      expect((await snapshotRows(stream)).map((r) => r.version)).toEqual(versions);
    };
    await run(v1, stream, { type: 'Add', amounts: [1, 2, 3] }); // v3: 3 past nothing
    await expectSnapshots([]);
    await run(v1, stream, { type: 'Add', amounts: [4, 5, 6] }); // v6: 6 past nothing, crossing 5 in the middle of the append
    await expectSnapshots([6]);
    await run(v1, stream, { type: 'Name', name: 'c' }); // v7: 1 past v6
    await expectSnapshots([6]);
    await run(v1, stream, { type: 'Add', amounts: [7, 8, 9, 10] }); // v11: 5 past v6
    await expectSnapshots([6, 11]);
    await run(v1, stream, { type: 'Add', amounts: Array.from({ length: 12 }, () => 1) }); // v23
    await expectSnapshots([6, 11, 23]);

    const loaded = await loadAggregate({ store: ctx.store }, v1, stream);
    expect(loaded).toMatchObject({ version: 23, snapshotVersion: 23, eventsRead: 0 });
    expect(loaded.state).toEqual((await fullFold(stream)).state);
    expect(loaded.state).toEqual({ total: 67, increments: 22, name: 'c' });

    await run(v1, stream, { type: 'Add', amounts: [1] });
    const next = await loadAggregate({ store: ctx.store }, v1, stream);
    expect(next).toMatchObject({ version: 24, snapshotVersion: 23, eventsRead: 1 });
    expect(next.state).toEqual((await fullFold(stream)).state);
  });

  it('toVersion reads use the newest snapshot at or below the version', async () => {
    for (const toVersion of [3, 5, 6, 10, 11, 15, 23, 24]) {
      const loaded = await loadAggregate({ store: ctx.store }, v1, stream, { toVersion });
      const expected = await fullFold(stream, toVersion);
      const snapshotVersion = [23, 11, 6].find((v) => v <= toVersion) ?? 0;
      expect(loaded, `toVersion ${toVersion}`).toMatchObject({ version: toVersion, snapshotVersion, eventsRead: toVersion - snapshotVersion });
      expect(loaded.state, `toVersion ${toVersion}`).toEqual(expected.state);
    }
  });

  it('reads what the snapshot says: the events it stands for are not read again', async () => {
    // A forged snapshot proves the load starts from it rather than from the events.
    await ctx.db.pool.query("insert into snapshots (stream_id, state_type, state_version, version, state) values ($1, 'counter', 1, 24, $2)",
      [stream, JSON.stringify({ total: 1000, increments: 0, name: 'forged' })]);
    const loaded = await loadAggregate({ store: ctx.store }, v1, stream);
    expect(loaded).toMatchObject({ snapshotVersion: 24, eventsRead: 0, state: { total: 1000, name: 'forged' } });
    await ctx.db.pool.query('delete from snapshots where stream_id = $1 and version = 24', [stream]);
  });

  it('ignores snapshots of another state version, and the next one written replaces them', async () => {
    const v2 = counter({ version: 2, every: 5 });
    // Code at state version 2 cannot use version-1 snapshots: it folds the whole stream.
    const loaded = await loadAggregate({ store: ctx.store }, v2, stream);
    expect(loaded).toMatchObject({ version: 24, snapshotVersion: 0, eventsRead: 24 });
    expect(loaded.state).toEqual((await fullFold(stream)).state);

    await run(v2, stream, { type: 'Add', amounts: [1] }); // v25: 25 past nothing (for version 2)
    await ctx.store.snapshots.idle();
    expect(await snapshotRows(stream)).toEqual([{ state_version: 2, version: 25 }]);
    expect(await loadAggregate({ store: ctx.store }, v2, stream)).toMatchObject({ version: 25, snapshotVersion: 25, eventsRead: 0 });
    // And the old code, should it still run somewhere (a rolling deploy), folds from the start rather than read version 2.
    expect(await loadAggregate({ store: ctx.store }, v1, stream)).toMatchObject({ version: 25, snapshotVersion: 0, eventsRead: 25 });
  });

  it('a missing snapshot only means folding from further back', async () => {
    const v2 = counter({ version: 2, every: 5 });
    await ctx.db.pool.query('delete from snapshots where stream_id = $1', [stream]);
    const loaded = await loadAggregate({ store: ctx.store }, v2, stream);
    expect(loaded).toMatchObject({ version: 25, snapshotVersion: 0, eventsRead: 25 });
    expect(loaded.state).toEqual((await fullFold(stream)).state);
  });

  it('keeps only the newest `keep` snapshots of a stream', async () => {
    const kept = counter({ version: 1, every: 2, keep: 2 });
    for (let i = 0; i < 5; i++) {
      await run(kept, 'counter-keep', { type: 'Add', amounts: [1, 1] });
      await ctx.store.snapshots.idle();
    }
    expect((await snapshotRows('counter-keep')).map((r) => r.version)).toEqual([8, 10]);
  });

  it('a snapshot that cannot be written never fails the command', async () => {
    // A bigint is not JSON: the snapshot write fails, the command does not.
    const unstorable = counter({ version: 1, every: 1 }, { evolve: (s, e) => ({ ...s, increments: s.increments + 1, big: BigInt(e.type.length) }) });
    const failures = ctx.store.snapshots.stats.snapshotWriteFailures;
    const outcome = await run(unstorable, 'counter-unstorable', { type: 'Add', amounts: [1] });
    expect(outcome.version).toBe(1);
    await ctx.store.snapshots.idle();
    expect(ctx.store.snapshots.stats.snapshotWriteFailures).toBe(failures + 1);
    expect(await snapshotRows('counter-unstorable')).toEqual([]);
  });

  it('deciders without a policy read the whole stream and write no snapshots', async () => {
    const plain = counter();
    for (let i = 0; i < 3; i++) await run(plain, 'counter-plain', { type: 'Add', amounts: [1, 1, 1, 1, 1, 1] });
    await ctx.store.snapshots.idle();
    expect(await snapshotRows('counter-plain')).toEqual([]);
    expect(await loadAggregate({ store: ctx.store }, plain, 'counter-plain')).toMatchObject({ version: 18, snapshotVersion: 0, eventsRead: 18 });
  });
});
