import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.js';
import { addNodeOperation as operation, connectTo, processNode as node, sessionOn } from '../helpers/collaboration.js';
import { signIn, type Who } from '../threat-models/helpers.js';
import { realtimeOf } from '../../src/realtime/index.js';

/**
 * Two instances of the service on one database: a socket on either hears every operation on the
 * diagram, in sequence order, whichever instance accepted it — through Redis at once, and without
 * Redis through each room's reads of PostgreSQL (its head check), which is the truth either way.
 */

function twoInstances(label: string, redis: boolean, headCheckMs = redis ? 60_000 : 200) {
  const ctx = {} as { database: TestDatabase; a: TestApp; b: TestApp; owner: Who; writer: Who };
  beforeAll(async () => {
    ctx.database = await createTestDatabase();
    const shared = {
      server: { read_your_writes_timeout_ms: 15_000 }, auth: { revocation_poll_ms: 60_000 },
      // One prefix: the instances share BullMQ's wake-ups and the diagrams' channels.
      redis: { prefix: `inst${label}${Date.now()}` }, realtime: { head_check_ms: headCheckMs, access_check_ms: 200, host_grace_ms: 500 },
    };
    ctx.a = await startTestApp({ database: ctx.database, redis, overrides: shared });
    ctx.b = await startTestApp({ database: ctx.database, redis, overrides: shared });
    ctx.owner = signIn(ctx.a, 'olga');
    ctx.writer = signIn(ctx.a, 'walt');
  });
  afterAll(async () => {
    await ctx.a?.stop();
    await ctx.b?.stop();
    await ctx.database?.drop();
  });
  return ctx;
}

const sequences = (socket: Awaited<ReturnType<typeof connectTo>>) => socket.all('diagram_operation_event').map((m) => m.sequence_number);

describe('two instances with Redis', () => {
  const ctx = twoInstances('r', true);

  it('deliver every operation to every socket in order, whichever instance accepted it', async () => {
    const s = await sessionOn(ctx.a, ctx.owner, ctx.writer);
    const onA = await connectTo(ctx.a, ctx.owner, s);
    const onB = await connectTo(ctx.b, ctx.writer, s);
    // Only the other instance writes and the head check is a minute away: this arrives by Redis.
    onB.send(operation(1, uuidv7(), 'first'));
    expect((await onA.next('diagram_operation_event', () => true, 5_000)).sequence_number).toBe(2);
    const each = 10;
    for (let n = 0; n < each; n++) {
      onA.send(operation(1, uuidv7(), `a${n}`));
      onB.send(operation(1, uuidv7(), `b${n}`));
    }
    const last = 2 + 2 * each;
    for (const socket of [onA, onB]) {
      await socket.next('diagram_operation_event', (m) => m.sequence_number === last, 20_000);
      expect(sequences(socket)).toEqual(Array.from({ length: 2 * each + 1 }, (_, i) => i + 2));
    }
    // Each instance's writer lost races to the other's, or heard of its events first: it caught up each time, loading the diagram only once.
    for (const app of [ctx.a, ctx.b]) expect(realtimeOf(app.runtime.services).hub.writerStats(s.diagram)).toMatchObject({ loads: 1 });
    // A resend to the other instance gets the original number.
    const first = onA.all('diagram_operation_event').find((m) => (m.initiating_user as { provider_id: string }).provider_id === 'walt@tmi.local')!;
    const cell = (first.operation as { cells: { id: string; data: { attrs: { text: { text: string } } } }[] }).cells[0]!;
    const resend = await connectTo(ctx.a, ctx.writer, s);
    resend.send(operation(1, cell.id, cell.data.attrs.text.text, first.operation_id as string));
    expect((await resend.next('diagram_operation_event', (m) => m.operation_id === first.operation_id)).sequence_number).toBe(first.sequence_number);

    // Presence crosses instances too: the host (on A) hands presenting to the writer (on B), whose cursor reaches A.
    onB.send({ message_type: 'presenter_request' });
    expect(await onA.next('presenter_request_event')).toMatchObject({ requesting_user: { provider_id: 'walt@tmi.local' } });
    onA.send({ message_type: 'change_presenter_request', new_presenter: { provider: 'tmi', provider_id: 'walt@tmi.local' } });
    await onB.next('participants_update', (m) => (m.current_presenter as { provider_id?: string } | null)?.provider_id === 'walt@tmi.local');
    onB.send({ message_type: 'presenter_cursor', cursor_position: { x: 3, y: 4 } });
    expect(await onA.next('presenter_cursor')).toEqual({ message_type: 'presenter_cursor', cursor_position: { x: 3, y: 4 } });
    expect(onB.all('presenter_cursor')).toHaveLength(0);

    // The host on both instances: closing one of the two is not leaving.
    const hostOnB = await connectTo(ctx.b, ctx.owner, s);
    await onA.close();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await ctx.b.request(s.collaborate, { token: signIn(ctx.b, 'walt').token })).status).toBe(200);
    expect(onB.all('error').filter((m) => m.error === 'session_ended')).toHaveLength(0);
    const hostAgain = await connectTo(ctx.a, ctx.owner, s);

    // Ending the session on one instance closes the sockets on both.
    expect((await ctx.b.request(s.collaborate, { method: 'DELETE', token: signIn(ctx.b, 'olga').token })).status).toBe(204);
    for (const socket of [onB, resend, hostOnB, hostAgain]) expect((await socket.closed).code).toBe(4000);
  });
});

describe('two instances without Redis', () => {
  const ctx = twoInstances('p', false);

  it('deliver the other instance\'s operations from PostgreSQL, in order', async () => {
    const s = await sessionOn(ctx.a, ctx.owner, ctx.writer);
    const onA = await connectTo(ctx.a, ctx.owner, s);
    const onB = await connectTo(ctx.b, ctx.writer, s);
    for (let n = 0; n < 5; n++) onB.send(operation(1, uuidv7(), `b${n}`));
    await onA.next('diagram_operation_event', (m) => m.sequence_number === 6, 20_000);
    expect(sequences(onA)).toEqual([2, 3, 4, 5, 6]);
    expect(sequences(onB)).toEqual([2, 3, 4, 5, 6]);
    // Ended on A, with no feed between them: B finds it on the session's stream and closes its socket.
    expect((await ctx.a.request(s.collaborate, { method: 'DELETE', token: ctx.owner.token })).status).toBe(204);
    expect((await onB.closed).code).toBe(4000);
    await onA.close();
  });
});

describe('two instances without Redis, their head checks a minute away', () => {
  const ctx = twoInstances('s', false, 60_000);

  it('answer sync_status_request only with a head the socket has received', async () => {
    const s = await sessionOn(ctx.a, ctx.owner, ctx.writer);
    const onA = await connectTo(ctx.a, ctx.owner, s);
    const onB = await connectTo(ctx.b, ctx.writer, s);
    onB.send(operation(1, uuidv7(), 'from B'));
    await onB.next('diagram_operation_event', (m) => m.sequence_number === 2);
    // Nothing has brought B's event to A's room yet (no feed between them, the head check far away).
    onA.send({ message_type: 'sync_status_request' });
    const status = await onA.next('sync_status_response');
    expect(status.update_vector).toBe(2);
    const event = onA.all('diagram_operation_event').find((m) => m.sequence_number === 2);
    expect(event, 'the event the status names reached the socket').toBeDefined();
    expect(onA.received.indexOf(event!)).toBeLessThan(onA.received.indexOf(status));
    await onA.close();
    await onB.close();
  });

  it('answer operation_rejected with the update_vector the socket has received, not the store\'s head', async () => {
    const s = await sessionOn(ctx.a, ctx.owner, ctx.writer);
    const onA = await connectTo(ctx.a, ctx.owner, s);
    const onB = await connectTo(ctx.b, ctx.writer, s);
    onB.send(operation(1, uuidv7(), 'from B'));
    await onB.next('diagram_operation_event', (m) => m.sequence_number === 2);
    // B's event is in the store and not on A's socket (no feed between them, the head check far away): A's refused
    // operation is answered as of what A has, version 1, and the state sent after it brings A to 2.
    const missing = uuidv7();
    onA.send({ ...operation(1, missing, 'nowhere'), operation: { type: 'patch', cells: [{ id: missing, operation: 'update', data: node(missing, 'nowhere') }] } });
    expect(await onA.next('operation_rejected')).toMatchObject({ reason: 'validation_failed', update_vector: 1, requires_resync: true });
    expect((await onA.next('diagram_state', () => true, 15_000)).update_vector).toBe(2);
    await onA.close();
    await onB.close();
  });
});

describe('two instances while their Redis is down', () => {
  let redis: OwnRedis;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    redis = await startOwnRedis();
    const overrides = { redis: { url: redis.url }, server: { read_your_writes_timeout_ms: 15_000 }, realtime: { head_check_ms: 200 } };
    a = await startTestApp({ overrides });
    b = await startTestApp({ overrides, database: a.database });
  });
  afterAll(async () => {
    await redis?.start().catch(() => {});
    await b?.stop();
    await a?.stop();
    await redis?.stop();
  });

  it('keep delivering from PostgreSQL, and by Redis again once it is back', async () => {
    const s = await sessionOn(a, signIn(a, 'olga'), signIn(a, 'walt'));
    const onA = await connectTo(a, signIn(a, 'olga'), s);
    const onB = await connectTo(b, signIn(b, 'walt'), s);
    await redis.stop();
    for (let n = 0; n < 3; n++) onB.send(operation(1, uuidv7(), `down${n}`));
    await onA.next('diagram_operation_event', (m) => m.sequence_number === 4, 20_000);
    expect(sequences(onA)).toEqual([2, 3, 4]);
    await redis.start();
    await eventually('both instances reconnected to Redis', async () => [a, b].every((app) => app.runtime.services.redis?.status === 'ready'));
    onB.send(operation(1, uuidv7(), 'up'));
    await onA.next('diagram_operation_event', (m) => m.sequence_number === 5, 20_000);
    expect(sequences(onA)).toEqual([2, 3, 4, 5]);
    await onA.close();
    await onB.close();
  });
});

describe('convergence across two instances', () => {
  const ctx = twoInstances('c', true);

  type Cell = { id: string; [k: string]: unknown };
  /** A client's view: the diagram as its messages built it, checking each event is the next one. */
  function viewOf(received: Record<string, unknown>[]) {
    let cells = new Map<string, Cell>();
    let last = -1;
    const seen: number[] = [];
    for (const m of received) {
      if (m.message_type === 'diagram_state') {
        cells = new Map((m.cells as Cell[]).map((c) => [c.id, c]));
        last = Math.max(last, m.update_vector as number);
      } else if (m.message_type === 'diagram_operation_event') {
        const seq = m.sequence_number as number;
        if (seq <= last) continue; // a resend's confirmation of what it knows already
        expect(seq, 'each event is the one after what the client knew').toBe(last + 1);
        for (const c of (m.operation as { cells: { id: string; operation: string; data?: Cell }[] }).cells) {
          if (c.operation === 'remove') cells.delete(c.id);
          else cells.set(c.id, c.data!);
        }
        last = seq;
        seen.push(seq);
      }
    }
    return { cells, last, seen };
  }
  const sorted = (cells: Iterable<Cell>) => [...cells].sort((x, y) => x.id.localeCompare(y.id));

  it('every client ends with the read model\'s cells and the fold of the events, whatever was sent concurrently', async () => {
    const fc = (await import('fast-check')).default;
    const action = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), text: fc.string({ maxLength: 8 }) }),
      fc.record({ kind: fc.constant('update' as const), pick: fc.nat(), x: fc.integer({ min: 0, max: 500 }), text: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('resend' as const), pick: fc.nat() }),
    );
    await fc.assert(fc.asyncProperty(fc.array(fc.array(action, { minLength: 1, maxLength: 8 }), { minLength: 3, maxLength: 3 }), async (plans) => {
      const s = await sessionOn(ctx.a, ctx.owner, ctx.writer);
      const clients = [await connectTo(ctx.a, ctx.owner, s), await connectTo(ctx.b, ctx.writer, s), await connectTo(ctx.b, ctx.owner, s)];
      // A failed run closes its sockets too, or shrinking would be refused by the per-user cap.
      try {
      // Every client builds its operations from what it knows when it sends them, so bases go stale under the others' writes.
      const seeded = [uuidv7(), uuidv7()];
      clients[0]!.send(operation(1, seeded[0]!, 'seed'));
      clients[0]!.send(operation(1, seeded[1]!, 'seed'));
      await clients[0]!.next('diagram_operation_event', (m) => m.sequence_number === 3);
      const sent: Record<string, unknown>[][] = clients.map(() => []);
      plans.forEach((plan, i) => {
        const client = clients[i]!;
        for (const step of plan) {
          const known = viewOf(client.received);
          const ids = [...known.cells.keys()];
          const pick = (n: number) => ids[n % Math.max(1, ids.length)];
          let message: Record<string, unknown> | undefined;
          if (step.kind === 'add') message = operation(known.last, uuidv7(), step.text);
          else if (step.kind === 'update' && ids.length > 0) {
            const id = pick(step.pick)!;
            message = { ...operation(known.last, id, step.text), operation: { type: 'patch', cells: [{ id, operation: 'update', data: { ...node(id, step.text), x: step.x } }] } };
          } else if (step.kind === 'remove' && ids.length > 0) {
            const id = pick(step.pick)!;
            message = { ...operation(known.last, id, ''), operation: { type: 'patch', cells: [{ id, operation: 'remove' }] } };
          } else if (step.kind === 'resend' && sent[i]!.length > 0) {
            message = sent[i]![step.pick % sent[i]!.length];
          }
          if (!message) continue;
          sent[i]!.push(message);
          client.send(message);
        }
        // Handled in order per socket: its answer means everything it sent before is decided.
        client.send({ message_type: 'sync_status_request' });
      });
      await Promise.all(clients.map((c) => c.next('sync_status_response', () => true, 20_000)));
      const head = await ctx.a.runtime.services.store.streamVersion(`diagram-${s.diagram}`);
      const views = await Promise.all(clients.map(async (c) => {
        const until = Date.now() + 20_000;
        while (viewOf(c.received).last < head && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
        return viewOf(c.received);
      }));
      const { diagrams } = await import('../../src/commands/diagrams/index.js');
      const { loadAggregate } = await import('../../src/application/execute-command.js');
      const folded = await loadAggregate(ctx.a.runtime.services, diagrams.decider, `diagram-${s.diagram}`);
      expect(folded.version).toBe(head);
      const fold = sorted((folded.state as unknown as { fields: { cells: Cell[] } }).fields.cells);
      let readModel: Cell[] = [];
      const until = Date.now() + 20_000;
      while (Date.now() < until) {
        const got = await json(await ctx.a.request(`/threat_models/${s.tm}/diagrams/${s.diagram}`, { token: ctx.owner.token }));
        if (got.update_vector === head) { readModel = sorted(got.cells); break; }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(readModel).toEqual(fold);
      for (const v of views) {
        expect(v.last).toBe(head);
        expect(sorted(v.cells.values())).toEqual(fold);
      }
      } finally {
        for (const c of clients) await c.close();
      }
    }), { numRuns: 6 });
  });
});
