import net from 'node:net';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { accepted, cleanUnavailable, CommandLoad } from './command-load.js';
import { createdThreatModels, lostCommands } from './created.js';
import { spawnService, type ServiceProcess } from './service-process.js';
import { lockWaitersOn } from '../helpers/locks.js';

const WORKERS = 6;

const refused = (url: string) => new Promise<boolean>((resolve) => {
  const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(url).port) });
  socket.once('connect', () => { socket.destroy(); resolve(false); });
  socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
});

/**
 * SIGTERM under a steady command load. The test makes "in flight" certain instead of hoping
 * for it: it holds a SHARE lock on `events`, so every create the load has sent blocks inside
 * the server at its append (seen in pg_stat_activity), sends SIGTERM, waits until the listener
 * is closed (a new connection is refused), and only then lets the appends go on. So at the
 * moment of the signal every client has exactly one request inside the server, and every
 * request sent later finds the listener closed.
 */
describe('SIGTERM under load', () => {
  let database: TestDatabase;
  let service: ServiceProcess | undefined;
  afterAll(async () => {
    if (service?.child.exitCode === null) service.child.kill('SIGKILL');
    await database?.drop();
  });

  it('drains: every request in flight gets its full answer, every accepted command is stored, the process exits 0', async () => {
    database = await createTestDatabase();
    service = await spawnService('serve', {
      databaseUrl: database.url, redisUrl: inject('redisUrl'), redisPrefix: `drain${randomBytes(4).toString('hex')}`,
      extra: { TMI_SHUTDOWN_TIMEOUT_MS: '60000' },
    });
    const svc = service;
    const token = svc.token('drain-alice');
    // A worker stops once nothing listens any more (the process has stopped taking requests).
    const load = new CommandLoad(() => ({ url: svc.url, token }), WORKERS, (a) => a.error === 'ECONNREFUSED');
    await load.more(3 * WORKERS);

    // A connection of its own: the pool's end a transaction left idle after 30 s.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    let sigtermAt = 0;
    try {
      await holder.query('begin');
      await holder.query('lock table events in share mode');
      await eventually(`all ${WORKERS} clients' creates wait at the append`, async () => await lockWaitersOn(database.pool, 'events') >= WORKERS, { deadlineMs: 60_000 });
      sigtermAt = Date.now();
      svc.child.kill('SIGTERM');
      await eventually('the process logs that it is shutting down', () => svc.output().includes('"msg":"shutting down"'), { deadlineMs: 60_000 });
      await eventually('the listener is closed', () => refused(svc.url), { deadlineMs: 60_000 });
      // Still alive: it is waiting for the requests in flight, not gone without them.
      expect(svc.child.exitCode).toBeNull();
    } finally {
      await holder.query('commit');
      await holder.end();
    }

    expect(await svc.exited, svc.output()).toBe(0);
    expect(svc.output()).toContain('"msg":"stopped"');
    const attempts = await load.stop();

    // In flight at the signal: one per client, each with its full answer, each accepted.
    const inFlight = attempts.filter((a) => a.startedAt < sigtermAt && a.error === undefined && a.status !== undefined);
    const before = attempts.filter((a) => a.startedAt < sigtermAt);
    expect(before.filter((a) => !accepted(a)), 'requests sent before SIGTERM without a 2xx').toEqual([]);
    expect(inFlight.length).toBeGreaterThanOrEqual(WORKERS);
    // After it: the listener was closed before any could be sent, so each was refused its connection.
    // (A 503 with the error body would be acceptable for one reaching an open connection; a reset is not.)
    const after = attempts.filter((a) => a.startedAt >= sigtermAt);
    expect(after.filter((a) => !(a.error === 'ECONNREFUSED' || cleanUnavailable(a) || accepted(a))), 'requests after SIGTERM cut or answered otherwise').toEqual([]);

    // No accepted command lost, none stored that its client was not told of.
    const ok = attempts.filter(accepted);
    expect(await lostCommands(database.pool, ok)).toEqual([]);
    const created = await createdThreatModels(database.pool);
    expect(created.size).toBe(ok.length);
  }, 120_000);
});
