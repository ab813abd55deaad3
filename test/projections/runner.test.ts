import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { EventStore } from '../../src/events/store.js';
import { ProjectionRebuild } from '../../src/projections/rebuild.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { startProjections } from '../../src/projections/runtime.js';
import { listDeadLetters, projectionStatuses } from '../../src/projections/status.js';
import { closeServices, openServices } from '../../src/runtime.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { useEventStore } from '../helpers/event-store.js';
import { testCatalog, testMetadata } from '../helpers/events.js';
import { pino } from 'pino';
import { counterTotals, settle } from '../helpers/projections.js';

const log = pino({ level: 'silent' });

describe('projection runner', () => {
  const ctx = useEventStore();
  const append = (stream: string, ...bys: number[]) =>
    ctx.store.appendToStream({ stream_id: stream, stream_type: 'counter', expected: 'any', events: bys.map((by) => ({ type: 'CounterIncremented', data: { by } })) }, { metadata: testMetadata() });
  const totals = async (name: string) =>
    (await ctx.db.pool.query<{ stream_id: string; total: number; applied: number }>(`select stream_id, total, applied from ${name}_totals order by stream_id`)).rows;
  const makeTable = (name: string) => ctx.db.pool.query(`create table ${name}_totals (stream_id text primary key, total int not null, applied int not null)`);

  it('applies events in batches and moves its checkpoint; a second run changes nothing', async () => {
    await makeTable('basic');
    const p = counterTotals('basic', 'halt');
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, log, 7);
    await runner.ensureRegistered(p);
    for (let i = 0; i < 10; i++) await append(`basic:${i % 3}`, 1, 2);
    const named = await ctx.store.appendToStream({ stream_id: 'other', stream_type: 'counter', expected: 'any', events: [{ type: 'CounterNamed', data: { name: 'x' } }] }, { metadata: testMetadata() });
    const first = await settle(runner, p, named.position);
    expect(await totals('basic')).toEqual([
      { stream_id: 'basic:0', total: 12, applied: 8 }, { stream_id: 'basic:1', total: 9, applied: 6 }, { stream_id: 'basic:2', total: 9, applied: 6 }]);
    const again = await runner.catchUp(p);
    expect(again.applied).toBe(0);
    expect(first.position).toBeGreaterThanOrEqual(named.position);
    const [status] = await projectionStatuses(ctx.db.pool, [p]);
    expect(status).toMatchObject({ name: 'basic', lag_events: 0, halted: false, dead_letters: 0 });
    expect(status!.position).toBeGreaterThanOrEqual(first.position);
  });

  it('two copies running at once apply every event exactly once', async () => {
    await makeTable('twice');
    const p = counterTotals('twice', 'halt');
    const a = new ProjectionRunner(ctx.db.pool, ctx.store, log, 5);
    const b = new ProjectionRunner(ctx.db.pool, ctx.store, log, 5);
    await a.ensureRegistered(p);
    const writes = Promise.all(Array.from({ length: 40 }, (_, i) => append(`twice:${i % 4}`, 1)));
    const runs = Promise.all([0, 1, 2, 3].map(async (i) => {
      const r = i % 2 ? a : b;
      for (let k = 0; k < 20; k++) await r.catchUp(p);
    }));
    const [appended] = await Promise.all([writes, runs]);
    const last = Math.max(...appended.map((r) => r.position));
    await Promise.all([settle(a, p, last), settle(b, p, last)]);
    // Every stream got 10 increments; only totals equal to the event count show nothing was applied twice.
    const rows = await totals('twice');
    expect(rows.map((r) => r.applied)).toEqual([10, 10, 10, 10]);
  });

  it('sets a poison event aside and goes on when the policy is skip', async () => {
    await makeTable('skipper');
    const p = counterTotals('skipper', 'skip');
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, log, 50);
    await runner.ensureRegistered(p);
    const appended = await append('skipper:1', 1, 13, 2);
    const r = await settle(runner, p, appended.position);
    expect(r.halted).toBe(false);
    expect(await totals('skipper')).toEqual([{ stream_id: 'skipper:1', total: 3, applied: 2 }]);
    const letters = await listDeadLetters(ctx.db.pool, { projection: 'skipper' });
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ event_type: 'CounterIncremented', status: 'pending', attempts: 1, error: 'unlucky number' });
  });

  it('halts on a poison event without blocking other projections, then resumes after a retry', async () => {
    await makeTable('halter');
    await makeTable('bystander');
    const cure = { cured: false };
    const halter = counterTotals('halter', 'halt', cure);
    const bystander = counterTotals('bystander', 'skip', { cured: true });
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, log, 50);
    for (const p of [halter, bystander]) await runner.ensureRegistered(p);
    await append('halter:1', 1, 13, 2);
    const both = await append('bystander:1', 1, 13, 2);
    const halted = await settle(runner, halter, both.position);
    expect(halted.halted).toBe(true);
    expect(await totals('halter')).toEqual([{ stream_id: 'halter:1', total: 1, applied: 1 }]);
    await settle(runner, bystander, both.position);
    expect(await totals('bystander')).toEqual([{ stream_id: 'bystander:1', total: 16, applied: 3 }]);
    // Still halted: more events wait.
    const more = await append('halter:1', 100);
    expect((await runner.catchUp(halter)).applied).toBe(0);
    const [letter] = await listDeadLetters(ctx.db.pool, { projection: 'halter' });
    expect(await runner.retryDeadLetter(halter, letter!.id)).toEqual({ ok: false, error: 'unlucky number' });
    cure.cured = true;
    expect(await runner.retryDeadLetter(halter, letter!.id)).toEqual({ ok: true });
    await settle(runner, halter, more.position);
    expect(await totals('halter')).toEqual([{ stream_id: 'halter:1', total: 116, applied: 4 }]);
    const [after] = await listDeadLetters(ctx.db.pool, { projection: 'halter', status: 'resolved' });
    expect(after).toMatchObject({ id: letter!.id, attempts: 3 });
  });

  it('skipping the event a projection halted on lets it go on past it', async () => {
    await makeTable('halt_skip');
    const p = counterTotals('halt_skip', 'halt');
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, log, 50);
    await runner.ensureRegistered(p);
    const appended = await append('halt_skip:1', 13, 5);
    expect((await settle(runner, p, appended.position)).halted).toBe(true);
    const [letter] = await listDeadLetters(ctx.db.pool, { projection: 'halt_skip' });
    await runner.skipDeadLetter(p, letter!.id);
    await settle(runner, p, appended.position);
    expect(await totals('halt_skip')).toEqual([{ stream_id: 'halt_skip:1', total: 5, applied: 1 }]);
  });

  it('a new projection version is rebuilt from the first event beside the live tables, which stay as they are until the swap', async () => {
    const p = counterTotals('basic', 'halt');
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, log, 100);
    const before = await totals('basic');
    await runner.ensureRegistered({ ...p, version: 2 });
    expect(await totals('basic')).toEqual(before);
    await new ProjectionRebuild(ctx.db.pool, ctx.store, { ...p, version: 2 }).run();
    await settle(runner, { ...p, version: 2 }, await ctx.store.headPosition());
    const after = await totals('basic');
    expect(after).toEqual(before);
    expect(after).toHaveLength(3);
  });
});

describe.each([
  { backend: 'Redis', redis: true },
  { backend: 'PostgreSQL', redis: false },
])('projections driven by BullMQ on $backend', ({ redis }) => {
  let db: TestDatabase;
  beforeAll(async () => { db = await createTestDatabase(); });
  afterAll(async () => { await db?.drop(); });

  it('a wake-up after a commit brings the projection to the commit position', async () => {
    const config = loadConfig({ env: {}, overrides: {
      mode: 'test', database: { url: db.url }, logging: { level: 'silent' },
      redis: { prefix: `t${randomBytes(4).toString('hex')}`, ...(redis ? { url: inject('redisUrl') } : {}) },
    } });
    const { services, embedded } = await openServices(config, log);
    services.store = new EventStore(services.database.pool, testCatalog());
    await db.pool.query('create table woken_totals (stream_id text primary key, total int not null, applied int not null)');
    const p = counterTotals('woken', 'skip');
    const running = await startProjections(services, [p]);
    try {
      const r = await services.store.appendToStream({ stream_id: 'woken:w', stream_type: 'counter', expected: 'any', events: [{ type: 'CounterIncremented', data: { by: 4 } }] }, { metadata: testMetadata() });
      services.wakeups.wake(['woken']);
      expect(await services.progress.waitFor(['woken'], r.position, 15_000)).toBe(true);
      const { rows } = await db.pool.query('select total from woken_totals where stream_id = $1', ['woken:w']);
      expect(rows).toEqual([{ total: 4 }]);
    } finally {
      await running.stop();
      await closeServices(services, embedded);
    }
  });
});
