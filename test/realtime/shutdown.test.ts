import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { json, startTestApp } from '../helpers/app.js';
import { openSocket } from '../helpers/socket.js';
import { realtimeOf } from '../../src/realtime/index.js';
import { connectTo, sessionOn } from '../helpers/collaboration.js';
import { createTestDatabase } from '../helpers/database.js';
import { signIn } from '../threat-models/helpers.js';

const node = (id: string) => ({ id, shape: 'process', x: 10, y: 10, width: 80, height: 40 });

/**
 * Graceful shutdown of the hub under a client that never stops sending: what the diagram's writer
 * took commits, what arrives after is answered server_shutting_down and applied nowhere, and every
 * socket is closed "going away" (1001) — the shutdown does not wait for a queue that keeps filling.
 */
describe.each([{ mode: 'with Redis', redis: true }, { mode: 'without Redis', redis: false }])('the hub shutting down $mode', ({ redis }) => {
  it('commits what its writer took, refuses the rest, closes with 1001, and ends', { timeout: 60_000 }, async () => {
    const database = await createTestDatabase();
    try {
      const app = await startTestApp({ database, redis, overrides: { realtime: { operations_per_second: 100_000 } } });
      const owner = signIn(app, 'olga');
      const writer = signIn(app, 'walt');
      const s = await sessionOn(app, owner, writer);
      const socket = await connectTo(app, writer, s);
      const sent: string[] = [];
      let open = true;
      void socket.closed.then(() => { open = false; });
      // More than one batch at once, then one more operation every millisecond until the socket closes.
      const send = () => {
        const id = uuidv7();
        const operationId = uuidv7();
        sent.push(operationId);
        socket.send({ message_type: 'diagram_operation_request', operation_id: operationId, base_vector: 1, operation: { type: 'patch', cells: [{ id, operation: 'add', data: node(id) }] } });
      };
      for (let i = 0; i < 200; i++) send();
      const flood = setInterval(() => { if (open) send(); }, 1);
      try {
        await socket.next('diagram_operation_event');
        await app.stop();
        expect((await socket.closed).code).toBe(1001);
      } finally {
        clearInterval(flood);
      }

      const { rows } = await database.pool.query<{ version: number; command_id: string }>(
        `select version, metadata->>'command_id' as command_id from events where stream_id = $1 and type = 'DiagramCellsPatched' order by version`, [`diagram-${s.diagram}`]);
      const committed = rows.map((r) => r.command_id.split(':').at(-1)!);
      const heard = socket.all('diagram_operation_event').map((m) => m.operation_id as string);
      const refused = socket.all('error').filter((m) => m.error === 'server_shutting_down').map((m) => (m.details as { operation_id: string }).operation_id);
      expect(committed.length).toBeGreaterThan(0);
      expect(rows.map((r) => r.version)).toEqual(rows.map((_, i) => i + 2));
      // Everything committed was sent once; what was refused was not.
      expect(new Set(committed).size).toBe(committed.length);
      expect(committed.every((id) => sent.includes(id))).toBe(true);
      // Every commit's delivery reached the socket before it was told the server is going away.
      expect([...heard].sort()).toEqual([...committed].sort());
      expect(refused.filter((id) => committed.includes(id))).toEqual([]);
      expect(refused.length).toBeGreaterThan(0);
    } finally {
      await database.drop();
    }
  });

  it('closes with 1001 a socket whose upgrade reaches the hub after its shutdown began, making it no room', { timeout: 60_000 }, async () => {
    const app = await startTestApp({ redis });
    try {
      const owner = signIn(app, 'olga');
      const writer = signIn(app, 'walt');
      const s = await sessionOn(app, owner, writer);
      const { ticket } = await json(await app.request(`/ws/ticket?session_id=${s.sessionId}`, { token: writer.token }));
      // The hub shuts down (as the server's close begins) while the HTTP server still takes this upgrade.
      const { hub } = realtimeOf(app.runtime.services);
      await hub.close();
      const socket = await openSocket(`${app.url.replace(/^http/, 'ws')}/threat_models/${s.tm}/diagrams/${s.diagram}/ws?session_id=${s.sessionId}&ticket=${ticket as string}`);
      const closed = await Promise.race([socket.closed, new Promise<null>((resolve) => { setTimeout(() => resolve(null), 30_000); })]);
      expect(closed?.code).toBe(1001);
      expect(socket.all('diagram_state')).toHaveLength(0);
    } finally {
      await app.stop();
    }
  });
});
