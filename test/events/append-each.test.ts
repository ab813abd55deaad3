import { describe, expect, it } from 'vitest';
import { CommandIdTakenError, StreamChangedError, VersionConflictError } from '../../src/events/errors.js';
import { useEventStore } from '../helpers/event-store.js';
import { testMetadata } from '../helpers/events.js';

/** The group commit: several commands' events on one stream in one statement, all or nothing. */
describe('appendEach', () => {
  const ctx = useEventStore();

  const inc = (by: number, commandId: string | null, actor: string) => ({
    type: 'CounterIncremented', data: { by }, command_id: commandId, command_fingerprint: commandId ? `fp-${commandId}` : null,
    metadata: { ...testMetadata(), actor: { user_id: actor, email: `${actor}@tmi.local`, provider: 'tmi' } },
  });
  const commandRows = async (ids: string[]) => (await ctx.db.pool.query('select command_id from command_results where command_id = any($1)', [ids])).rowCount;

  it('appends each event with its own metadata and command id in one transaction', async () => {
    const events = await ctx.store.appendEach({ stream_id: 'g-1', stream_type: 'counter', expected: 'no_stream', events: [inc(1, 'k1', 'ann'), inc(2, null, 'bob'), inc(3, 'k3', 'cy')] });
    expect(events.map((e) => e.version)).toEqual([1, 2, 3]);
    expect(new Set(events.map((e) => Math.floor(e.position / 65_536))).size).toBe(1);
    const read = await ctx.store.readStream('g-1');
    expect(read.map((e) => [e.metadata.actor.user_id, e.metadata.command_id])).toEqual([['ann', 'k1'], ['bob', null], ['cy', 'k3']]);
    const results = await ctx.store.commandResults(['k1', 'k3', 'never']);
    expect([...results.keys()].sort()).toEqual(['k1', 'k3']);
    expect(results.get('k3')).toMatchObject({ fingerprint: 'fp-k3', events: [{ version: 3, data: { by: 3 } }] });
  });

  it('appends nothing when the stream moved, a condition broke, or a command id was taken', async () => {
    const stale = await ctx.store.appendEach({ stream_id: 'g-1', stream_type: 'counter', expected: 2, events: [inc(4, 'k4', 'ann')] }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(VersionConflictError);
    expect(stale).toMatchObject({ actual: 3 });

    await ctx.store.appendToStream({ stream_id: 'guard', stream_type: 'counter', expected: 'no_stream', events: [{ type: 'CounterIncremented', data: { by: 1 } }] }, { metadata: testMetadata() });
    const broken = await ctx.store.appendEach({ stream_id: 'g-1', stream_type: 'counter', expected: 3, events: [inc(4, 'k5', 'ann')] },
      { conditions: [{ stream_id: 'guard', unchanged_since: 0 }] }).catch((e: unknown) => e);
    expect(broken).toBeInstanceOf(StreamChangedError);
    // The same condition after the guard's version holds.
    const held = await ctx.store.appendEach({ stream_id: 'g-1', stream_type: 'counter', expected: 3, events: [inc(4, 'k6', 'ann')] },
      { conditions: [{ stream_id: 'guard', unchanged_since: 1 }] });
    expect(held.map((e) => e.version)).toEqual([4]);

    const taken = await ctx.store.appendEach({ stream_id: 'g-1', stream_type: 'counter', expected: 4, events: [inc(5, 'k7', 'ann'), inc(6, 'k1', 'bob')] }).catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(CommandIdTakenError);
    // All or nothing: neither the event of the fresh id nor its command result landed.
    expect(await ctx.store.streamVersion('g-1')).toBe(4);
    expect(await commandRows(['k4', 'k5', 'k7'])).toBe(0);
  });

  it('reads several streams\' versions at once, in the order asked', async () => {
    expect(await ctx.store.streamVersions(['guard', 'nope', 'g-1'])).toEqual([1, 0, 4]);
  });
});
