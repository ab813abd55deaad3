import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotKey } from '../../src/application/snapshots.js';
import { diagrams } from '../../src/commands/diagrams/index.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { sessionOn } from '../helpers/collaboration.js';
import { openSocket } from '../helpers/socket.js';
import { signIn } from '../threat-models/helpers.js';

/**
 * A socket whose join fails after the upgrade (the diagram's state cannot be loaded): it is
 * closed 1011, and the room made for it does not stay behind with nobody in it, subscribed to
 * the diagram's feed and checking its head for ever. An app of its own: the rooms gauge counts
 * this test's rooms only.
 */
describe('a join that fails', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp(); });
  afterAll(async () => { await app?.stop(); });

  const roomsNow = async () => Number(/^tmi_realtime_active_diagrams (\d+)$/m.exec(await (await app.request('/metrics')).text())![1]);

  it('closes the socket with 1011 and releases the room it made', async () => {
    const s = await sessionOn(app, signIn(app, 'olga'), signIn(app, 'walt'));
    // A snapshot that does not fold (its state lost): loading the diagram's state fails, the session's stream still loads.
    const key = snapshotKey(diagrams.decider)!;
    await app.database.pool.query(`insert into snapshots (stream_id, state_type, state_version, version, state) values ($1, $2, $3, 1, 'null'::jsonb)`,
      [`diagram-${s.diagram}`, key.type, key.version]);
    const { ticket } = await json(await app.request(`/ws/ticket?session_id=${s.sessionId}`, { token: signIn(app, 'walt').token }));
    const socket = await openSocket(`${app.url.replace(/^http/, 'ws')}/threat_models/${s.tm}/diagrams/${s.diagram}/ws?session_id=${s.sessionId}&ticket=${ticket as string}`);
    expect((await socket.closed).code).toBe(1011);
    expect(socket.all('diagram_state')).toHaveLength(0);
    expect(await roomsNow()).toBe(0);
  });
});
