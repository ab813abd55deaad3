import { v7 as uuidv7 } from 'uuid';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { connectTo, sessionOn } from '../helpers/collaboration.js';
import { eventually } from '../helpers/eventually.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { signIn } from '../threat-models/helpers.js';
import { lockWaitersOn } from '../helpers/locks.js';

const expectRefusedForShutdown = (status: number, headers: (name: string) => string | undefined, body: string) => {
  expect(status, body).toBe(503);
  expect(JSON.parse(body)).toEqual({ error: 'service_unavailable', error_description: expect.any(String) });
  expect(headers('retry-after')).toBe('1');
  expect(headers('connection')).toBe('close');
  expect(headers('content-type')).toMatch(/^application\/json/);
  expect(headers('x-request-id')).toBeTruthy();
};

/**
 * The app closing while clients still talk to it. What holds the close open is made certain, not
 * hoped for: a SHARE lock on `events` holds both a diagram operation (the WebSocket hub's drain
 * waits for it before the listener closes) and an HTTP create (the server's close waits for it)
 * at their appends. Meanwhile new requests, on a new connection and on a keep-alive one opened
 * before, are refused with 503 and the contract's error body (not Fastify's own
 * `{statusCode, error, message}`), `Retry-After` and `Connection: close`. Once the lock goes,
 * the create is answered in full with `Connection: close`, its connection ends (an idle
 * keep-alive connection left behind would hold the close for the keep-alive timeout), and the
 * close completes.
 */
describe('requests meeting the shutdown', () => {
  let app: TestApp;
  afterAll(async () => { await app?.stop(); });

  it('are refused with 503 and the error body; the requests in flight are answered; the close completes', async () => {
    app = await startTestApp();
    const owner = signIn(app, 'closer');
    const writer = signIn(app, 'wanda');
    const s = await sessionOn(app, owner, writer);
    const host = await connectTo(app, owner, s);

    const idle = await RawConnection.open(app.url);
    idle.send('GET', '/threat_models', owner.token);
    expect((await idle.next()).headers.connection).toBe('keep-alive');
    const busy = await RawConnection.open(app.url);

    const holder = await app.database.pool.connect();
    let stopped: Promise<void>;
    try {
      await holder.query('begin');
      await holder.query('lock table events in share mode');
      const id = uuidv7();
      host.send({ message_type: 'diagram_operation_request', operation_id: uuidv7(), base_vector: 1,
        operation: { type: 'patch', cells: [{ operation: 'add', id, data: { id, shape: 'process', x: 100, y: 80, width: 120, height: 60 } }] } });
      busy.send('POST', '/threat_models', owner.token, { name: 'in flight at the close' });
      await eventually('the operation and the create wait at the append', async () => await lockWaitersOn(app.database.pool, 'events') >= 2);

      stopped = app.runtime.stop();
      // The hub's drain waits for the operation, so the listener is still open: a new connection's request is refused.
      const refused = await eventually('a new request is refused', async () => {
        const res = await app.request('/threat_models', { token: owner.token });
        return res.status === 200 ? null : res;
      });
      expectRefusedForShutdown(refused.status, (n) => refused.headers.get(n) ?? undefined, await refused.text());
      idle.send('GET', '/threat_models', owner.token);
      const onIdle = await idle.next();
      expectRefusedForShutdown(onIdle.status, (n) => onIdle.headers[n], onIdle.body);
      await idle.closed;
    } finally {
      await holder.query('rollback');
      holder.release();
    }

    const inFlight = await busy.next();
    expect(inFlight.status, inFlight.body).toBe(201);
    expect(inFlight.headers.connection).toBe('close');
    await busy.closed;
    await stopped;
  });
});
