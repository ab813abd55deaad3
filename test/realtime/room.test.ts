import { describe, expect, it } from 'vitest';
import { DIAGRAM_CELLS_PATCHED } from '../../src/commands/diagrams/index.js';
import type { FeedEvent } from '../../src/realtime/feed.js';
import { DiagramRoom, type RoomMember, type RoomSource } from '../../src/realtime/room.js';

/**
 * A room's ordering, against a stream held in memory (the room reads the store only through
 * RoomSource): whatever order the feed brings events in, and whatever it drops, each socket hears
 * each event once, in sequence order.
 */
const user = { principal_type: 'user', provider: 'tmi', provider_id: 'w@tmi.local', display_name: 'W', email: 'w@tmi.local' };
const op = (version: number): FeedEvent => ({
  version, type: DIAGRAM_CELLS_PATCHED,
  data: { threat_model_id: 't', id: 'd', operation_id: `op-${version}`, user_id: 'u', user, cells: [{ id: `c${version}`, operation: 'remove' }], modified_at: '' },
});

function streamOf(head: number) {
  const events: FeedEvent[] = Array.from({ length: head }, (_, i) => op(i + 1));
  const source: RoomSource = {
    eventsFrom: async (from) => events.filter((e) => e.version >= from),
    head: async () => events.length,
    snapshot: async () => ({ version: events.length, cells: [], palette: undefined }),
  };
  return { events, source, append: () => { const e = op(events.length + 1); events.push(e); return e; } };
}
function member(): RoomMember & { got: Record<string, unknown>[] } {
  const got: Record<string, unknown>[] = [];
  return { lastSent: 0, got, send: (m) => { got.push(m as Record<string, unknown>); } };
}
const sequences = (m: { got: Record<string, unknown>[] }) => m.got.filter((x) => x.message_type === 'diagram_operation_event').map((x) => x.sequence_number);
const errors: unknown[] = [];
const settle = (room: DiagramRoom) => room.checkHead();

describe('a diagram room', () => {
  it('delivers out-of-order events in sequence order, once each', async () => {
    const s = streamOf(1);
    const room = new DiagramRoom('d', s.source, 1, (e) => errors.push(e));
    const m = member();
    await room.join(m, () => {});
    const [e2, e3, e4] = [s.append(), s.append(), s.append()];
    room.receive(e4);
    room.receive(e2);
    room.receive(e3);
    room.receive(e2);
    await settle(room);
    expect(sequences(m)).toEqual([2, 3, 4]);
    expect(errors).toEqual([]);
  });

  it('fills a gap from the store when the feed dropped an event, and finds unpublished ones by the head check', async () => {
    const s = streamOf(0);
    const room = new DiagramRoom('d', s.source, 0, (e) => errors.push(e));
    const m = member();
    await room.join(m, () => {});
    s.append();
    const e2 = s.append();
    room.receive(e2);
    await settle(room);
    expect(sequences(m)).toEqual([1, 2]);
    s.append();
    s.append();
    await room.checkHead();
    expect(sequences(m)).toEqual([1, 2, 3, 4]);
  });

  it('sends a joining socket the state, then only what came after it', async () => {
    const s = streamOf(3);
    const room = new DiagramRoom('d', s.source, 2, (e) => errors.push(e));
    const m = member();
    let welcomed = -1;
    await room.join(m, (snap) => { welcomed = snap.version; });
    expect(welcomed).toBe(3);
    room.receive(s.events[2]!);
    room.receive(s.append());
    await settle(room);
    expect(sequences(m)).toEqual([4]);
  });

  it('sends the state for an event that is no cell operation, in its turn, and nothing older after it', async () => {
    const s = streamOf(1);
    const room = new DiagramRoom('d', s.source, 1, (e) => errors.push(e));
    const m = member();
    await room.join(m, () => {});
    const meta: FeedEvent = { version: 2, type: 'MetadataEntriesSet', data: {} };
    s.events.push(meta);
    const e3 = s.append();
    room.receive(e3);
    room.receive(meta);
    await settle(room);
    expect(m.got.map((x) => [x.message_type, x.update_vector])).toEqual([['diagram_state', 3]]);
    room.receive(s.append());
    await settle(room);
    expect(sequences(m)).toEqual([4]);
  });

  it('catches a socket up from its last number within the limit, else sends the state', async () => {
    const s = streamOf(10);
    const room = new DiagramRoom('d', s.source, 10, (e) => errors.push(e));
    const near = member();
    await room.catchUp(near, 7, 5);
    expect(sequences(near)).toEqual([8, 9, 10]);
    expect(near.got.at(-1)).toEqual({ message_type: 'sync_status_response', update_vector: 10 });
    const far = member();
    await room.catchUp(far, 2, 5);
    expect(sequences(far)).toEqual([]);
    expect(far.got).toEqual([expect.objectContaining({ message_type: 'diagram_state', update_vector: 10 })]);
  });

  it('shares one head read among the status requests and head checks waiting behind a slow step', async () => {
    const s = streamOf(1);
    let heads = 0;
    let slow: { read: () => void; done: Promise<void> } | null = null;
    const source: RoomSource = {
      ...s.source,
      head: async () => { heads++; return s.source.head(); },
      snapshot: async () => { const snap = await s.source.snapshot(); if (slow) { slow.read(); await slow.done; } return snap; },
    };
    const room = new DiagramRoom('d', source, 1, (e) => errors.push(e));
    const asking = Array.from({ length: 20 }, () => member());
    for (const m of asking) await room.join(m, () => {});
    // A join whose snapshot is slow holds the room's steps; meanwhile an event nobody published lands, and everyone asks.
    let release!: () => void;
    const read = new Promise<void>((resolve) => { slow = { read: resolve, done: new Promise<void>((r) => { release = r; }) }; });
    const joining = room.join(member(), () => {});
    await read;
    s.append();
    const answers = [...asking.map((m) => room.status(m)), ...Array.from({ length: 10 }, () => room.checkHead())];
    release();
    await Promise.all([joining, ...answers]);
    expect(heads).toBe(1);
    // Each answer came after the event it names: nobody is told of a number before receiving it.
    for (const m of asking) expect(m.got.slice(-2)).toEqual([expect.objectContaining({ sequence_number: 2 }), { message_type: 'sync_status_response', update_vector: 2 }]);
    // A request arriving once that read started waits for a read of its own.
    const late = asking[0]!;
    const during = room.status(late);
    await Promise.resolve();
    s.append();
    await Promise.all([during, room.status(late)]);
    expect(heads).toBe(3);
    expect(late.got.at(-1)).toEqual({ message_type: 'sync_status_response', update_vector: 3 });
  });
});
