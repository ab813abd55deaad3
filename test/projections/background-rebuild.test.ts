import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startBackgroundRebuilds } from '../../src/projections/background-rebuild.js';
import type { Projection } from '../../src/projections/projection.js';
import { rollbackProjection } from '../../src/projections/rebuild.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { ProjectionProgress } from '../../src/projections/signals.js';
import { projectionStatuses } from '../../src/projections/status.js';
import { useEventStore } from '../helpers/event-store.js';
import { testMetadata } from '../helpers/events.js';
import { counterTable, counterTotals, settle } from '../helpers/projections.js';

const silent = pino({ level: 'silent' });
/** Short waits so the tries come quickly; what is asserted is that they keep coming, never how fast. */
const quick = { retryMs: 20, maxBackoffMs: 200 };

/** Version 2 of the counter; `by: 13` is poison to it until `state.cured`, while version 1 (cured) applies it. */
const bumped = (name: string, state = { cured: false }): Projection => ({ ...counterTotals(name, 'halt', state), version: 2 });

describe('background rebuilds of a version bump', () => {
  const ctx = useEventStore();
  const append = (stream: string, by = 1) =>
    ctx.store.appendToStream({ stream_id: stream, stream_type: 'counter', expected: 'any', events: [{ type: 'CounterIncremented', data: { by } }] }, { metadata: testMetadata() });
  const version = async (name: string) =>
    (await ctx.db.pool.query<{ version: number }>('select version from projection_checkpoints where name = $1', [name])).rows[0]!.version;
  const status = async (p: Projection) => (await projectionStatuses(ctx.db.pool, [p]))[0]!;

  /** The live tables at version 1, applied by its own worker, which then goes away (the deploy finished). */
  async function liveAtVersionOne(name: string) {
    await ctx.db.pool.query(counterTable(name));
    const v1 = counterTotals(name, 'halt', { cured: true });
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await runner.ensureRegistered(v1);
    await append(`${name}:1`, 1);
    await append(`${name}:1`, 13);
    await settle(runner, v1, (await append(`${name}:1`, 2)).position);
  }

  it('keeps trying a failing build, visibly, while the frozen tables answer read-your-writes waits as documented; tries again after a rollback', async () => {
    await liveAtVersionOne('frozen');
    const state = { cured: false };
    const v2 = bumped('frozen', state);
    const newer = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await newer.ensureRegistered(v2);
    const progress = new ProjectionProgress(ctx.db.pool, ctx.db.url, silent);
    const lines: { level: number; msg: string; failures?: number }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const rebuilds = startBackgroundRebuilds(ctx.db.pool, ctx.store, log, [v2], async () => {}, quick);
    try {
      // Only version 2 runs: the live tables stand still. A wait for a later write times out (a command answers 202)...
      const written = await append('frozen:1', 1);
      expect(await newer.catchUp(v2)).toMatchObject({ ran: false, applied: 0 });
      expect(await progress.waitFor(['frozen'], written.position, 200)).toBe(false);
      // ...and one still waiting when the swap comes is answered by the new tables.
      const waiting = progress.waitFor(['frozen'], written.position, 60_000);

      // Version 2's build fails at the event it cannot apply, again and again, and says so where an operator looks.
      await expect.poll(async () => (await status(v2)).rebuild_failures).toBeGreaterThanOrEqual(2);
      expect(await status(v2)).toMatchObject({ version: 1, code_version: 2, rebuild_pending: true, rebuild_error: expect.stringMatching(/unlucky number/) });
      expect(lines.filter((l) => l.level === 50 && /rebuild failed/.test(l.msg)).map((l) => l.failures)).toEqual(expect.arrayContaining([1, 2]));
      expect(await version('frozen')).toBe(1);

      state.cured = true;
      await rebuilds.settled;
      expect(await version('frozen')).toBe(2);
      expect(await waiting).toBe(true);
      expect(await status(v2)).toMatchObject({ version: 2, rebuild_pending: false, rebuild_failures: 0, rebuild_error: null });
      expect((await ctx.db.pool.query('select total from frozen_totals')).rows).toEqual([{ total: 17 }]);

      // An operator rolls version 1 back in while version 2 keeps running: it is stale again, and built again.
      expect(await rollbackProjection(ctx.db.pool, 'frozen')).toMatchObject({ version: 1 });
      await expect.poll(() => version('frozen')).toBe(2);
    } finally {
      await rebuilds.stop();
      await progress.close();
    }
  });

  it('a build that keeps failing does not hold a slot the others need', async () => {
    // Two failing builds would have taken both slots for good, and the third never been built.
    for (const name of ['stuck_a', 'stuck_b', 'unstuck']) await liveAtVersionOne(name);
    const list = [bumped('stuck_a'), bumped('stuck_b'), bumped('unstuck', { cured: true })];
    const rebuilds = startBackgroundRebuilds(ctx.db.pool, ctx.store, silent, list, async () => {}, quick);
    try {
      await expect.poll(() => version('unstuck')).toBe(2);
      expect([await version('stuck_a'), await version('stuck_b')]).toEqual([1, 1]);
      expect((await status(list[0]!)).rebuild_failures).toBeGreaterThan(0);
    } finally {
      await rebuilds.stop();
    }
  });
});
