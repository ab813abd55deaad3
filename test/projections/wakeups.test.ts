import { randomBytes } from 'node:crypto';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { EventStore } from '../../src/events/store.js';
import type { Services } from '../../src/services.js';
import type { Projection } from '../../src/projections/projection.js';
import { projectionLockKey } from '../../src/projections/runner.js';
import { startProjections, type RunningProjections } from '../../src/projections/runtime.js';
import { PROJECTION_QUEUE } from '../../src/projections/signals.js';
import { closeServices, openServices } from '../../src/runtime.js';
import type { EmbeddedDatabase } from '../../src/infra/embedded-postgres.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually, pollUntil } from '../helpers/eventually.js';
import { testCatalog, testMetadata } from '../helpers/events.js';
import { counterTable, counterTotals } from '../helpers/projections.js';

const log = pino({ level: 'silent' });
const HOUR = 3_600_000;

/**
 * The wake-up path with the safety net switched off (one tick an hour): every test here would
 * pass within five seconds on the safety net alone, so with it off only the wake-ups themselves
 * (and what the fix adds to them) can bring a projection to its event.
 */
describe('projection wake-ups with the safety net off (BullMQ on Redis)', () => {
  const names = ['locked', 'horizon', 'untyped', 'unwaited', 'load_a', 'load_b', 'load_c'];
  /**
   * Applies every CounterIncremented slowly, holding its batch transaction (with an xid, from its
   * first write) open: while it runs, the other projectors cannot read past it.
   */
  const slow: Projection = {
    name: 'load_slow', version: 1, handles: ['CounterIncremented'], tables: ['load_slow_totals'], onPoison: 'skip',
    async apply(event, client) {
      await client.query(`insert into load_slow_totals (stream_id, total, applied) values ('all', 1, 1)
        on conflict (stream_id) do update set total = load_slow_totals.total + 1, applied = load_slow_totals.applied + 1`);
      await client.query('select pg_sleep(0.002)');
    },
  };
  let db: TestDatabase;
  let services: Services;
  let embedded: EmbeddedDatabase | null;
  let running: RunningProjections;
  let events: QueueEvents;
  let eventsConnection: Redis;
  const added = new Map<string, string>();
  const finished = new Set<string>();

  beforeAll(async () => {
    db = await createTestDatabase();
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const config = loadConfig({ env: {}, overrides: {
      mode: 'test', database: { url: db.url }, logging: { level: 'silent' },
      server: { projection_safety_net_ms: HOUR },
      redis: { prefix, url: inject('redisUrl') },
    } });
    ({ services, embedded } = await openServices(config, log));
    services.store = new EventStore(services.database.pool, testCatalog());
    for (const n of [...names, slow.name]) await db.pool.query(counterTable(n));
    // Which job carried which wake-up, and when it finished: the race is built on these.
    eventsConnection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    events = new QueueEvents(PROJECTION_QUEUE, { connection: eventsConnection, prefix, lastEventId: '0-0' });
    events.on('added', ({ jobId, name }) => added.set(jobId, name));
    events.on('completed', ({ jobId }) => finished.add(jobId));
    events.on('failed', ({ jobId }) => finished.add(jobId));
    await events.waitUntilReady();
    running = await startProjections(services, [...names.map((n) => counterTotals(n, 'skip')), slow]);
  });
  afterAll(async () => {
    await running?.stop();
    await events?.close();
    eventsConnection?.disconnect();
    if (services) await closeServices(services, embedded);
    await db?.drop();
  });

  const append = (stream: string, type = 'CounterIncremented', data: object = { by: 1 }) =>
    services.store.appendToStream({ stream_id: stream, stream_type: 'counter', expected: 'any', events: [{ type, data }] }, { metadata: testMetadata() });
  const checkpoint = async (name: string) =>
    Number((await db.pool.query<{ position: number }>('select position from projection_checkpoints where name = $1', [name])).rows[0]!.position);
  /** The projection's checkpoint read straight from PostgreSQL: no waiter is involved that could send a wake-up of its own. */
  const reaches = async (name: string, position: number) =>
    await pollUntil(async () => (await checkpoint(name)) >= position, { deadlineMs: 10_000, everyMs: 20 }) !== false;
  const jobsFor = (name: string) => [...added].filter(([, n]) => n === name).map(([id]) => id);
  const someJobFinished = (name: string) => jobsFor(name).some((id) => finished.has(id));
  /** A session (the runner's) is waiting for an advisory lock in this test's database. */
  const lockWaiter = async () => (await db.pool.query(
    `select 1 from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`)).rowCount! > 0;
  /** A transaction holding the horizon back: it has an xid (older than anything appended after) and stays open. */
  const openWriter = async (): Promise<pg.PoolClient> => {
    const client = await db.pool.connect();
    await client.query('begin');
    await client.query('select pg_current_xact_id()');
    return client;
  };

  // Nothing but the scheduler's next tick (an hour away) may be pending: no earlier job can stand in for the wake-up under test.
  beforeEach(async () => {
    await eventually('the projection queue is idle', async () => {
      const jobs = await services.queues.queue(PROJECTION_QUEUE).getJobs(['waiting', 'active', 'prioritized', 'delayed']);
      return jobs.every((j) => j.timestamp + (j.delay ?? 0) > Date.now() + 60_000);
    });
  });

  it('a wake-up that arrives while another copy holds the projection lock is not dropped', async () => {
    // Another copy of the projector (the safety-net job, another worker) is inside a batch.
    const holder = await db.pool.connect();
    await holder.query('begin');
    await holder.query('select pg_advisory_xact_lock($1)', [projectionLockKey('locked')]);
    const e = await append('locked:1');
    services.wakeups.wake(['locked']);
    // The wake-up has been handled while the lock was held: either its job is done, or it waits for the lock.
    await eventually('the wake-up met the held lock', async () => someJobFinished('locked') || await lockWaiter());
    await holder.query('commit');
    holder.release();
    expect(await reaches('locked', e.position)).toBe(true);
  });

  it('a projection that read nothing because an open transaction held the horizon runs again once it closes', async () => {
    const writer = await openWriter();
    const e = await append('horizon:1');
    services.wakeups.wake(['horizon']);
    await eventually('the woken batch ran', () => someJobFinished('horizon'));
    expect(await checkpoint('horizon')).toBeLessThan(e.position);
    await writer.query('commit');
    writer.release();
    expect(await reaches('horizon', e.position)).toBe(true);
    expect((await db.pool.query('select total from horizon_totals')).rows).toEqual([{ total: 1 }]);
  });

  it('a command waiting for a projection that handles none of its events is not left behind the horizon', async () => {
    const writer = await openWriter();
    // `untyped` handles CounterIncremented only: nothing of its own is pending, it just has to pass the position.
    const e = await append('untyped:1', 'CounterNamed', { name: 'x' });
    services.wakeups.wake(['untyped']);
    await eventually('the woken batch ran', () => someJobFinished('untyped'));
    expect(await checkpoint('untyped')).toBeLessThan(e.position);
    await writer.query('commit');
    writer.release();
    expect(await services.progress.waitFor(['untyped'], e.position, 10_000)).toBe(true);
  });

  it('a projection that handles none of an event\'s types passes it once the horizon does, with nobody waiting', async () => {
    // Lag seen from outside (a respond-async command, the bench): no waiter's poll re-sends the wake-up.
    const writer = await openWriter();
    const e = await append('unwaited:1', 'CounterNamed', { name: 'x' });
    services.wakeups.wake(['unwaited']);
    await eventually('the woken batch ran', () => someJobFinished('unwaited'));
    expect(await checkpoint('unwaited')).toBeLessThan(e.position);
    await writer.query('commit');
    writer.release();
    expect(await reaches('unwaited', e.position)).toBe(true);
  });

  it('under load every write is seen by every projection it wakes, without the safety net', async () => {
    // load_slow is woken with the others but not waited for: its long batches hold the horizon back.
    const load = ['load_a', 'load_b', 'load_c'];
    const results = await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      const reached: boolean[] = [];
      for (let i = 0; i < 25; i++) {
        // Each projection counts only its own streams: one event for each, in transactions of their own.
        const own = await Promise.all(load.map((n) => append(`${n}:${w}`)));
        services.wakeups.wake([...load, slow.name]);
        const ok = await services.progress.waitFor(load, Math.max(...own.map((o) => o.position)), 10_000);
        reached.push(ok);
        if (!ok) break;
      }
      return reached;
    }));
    expect(results.flat().filter((ok) => !ok)).toEqual([]);
    for (const n of load) {
      const { rows } = await db.pool.query<{ total: number }>(`select sum(total)::int as total from ${n}_totals`);
      expect(rows[0]!.total).toBe(8 * 25);
    }
  });
});
