import type { PoolClient } from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/events/types.js';
import { withTransaction } from '../../src/infra/database.js';
import type { Projection } from '../../src/projections/projection.js';
import { ProjectionRunner, resetProjection } from '../../src/projections/runner.js';
import { ProjectionProgress } from '../../src/projections/signals.js';
import { projectionStatuses } from '../../src/projections/status.js';
import { useEventStore } from '../helpers/event-store.js';
import { eventually } from '../helpers/eventually.js';
import { testMetadata } from '../helpers/events.js';
import { counterTable, counterTotals, settle } from '../helpers/projections.js';

const silent = pino({ level: 'silent' });

/** Version `version` of a counter projection that adds `by × factor`, so which code applied an event shows in the table. */
function versioned(name: string, version: number, factor: number): Projection {
  return {
    name, version, handles: ['CounterIncremented'], tables: [`${name}_totals`], onPoison: 'halt',
    async apply(event: StoredEvent, client: PoolClient) {
      if (!event.stream_id.startsWith(`${name}:`)) return;
      await client.query(
        `insert into ${name}_totals (stream_id, total, applied) values ($1, $2, 1)
         on conflict (stream_id) do update set total = ${name}_totals.total + excluded.total, applied = ${name}_totals.applied + 1`,
        [event.stream_id, (event.data as { by: number }).by * factor]);
    },
  };
}

describe('projections after a rebuild', () => {
  const ctx = useEventStore();
  const append = (stream: string, by = 1) =>
    ctx.store.appendToStream({ stream_id: stream, stream_type: 'counter', expected: 'any', events: [{ type: 'CounterIncremented', data: { by } }] }, { metadata: testMetadata() });
  const totals = async (name: string) => (await ctx.db.pool.query(`select stream_id, total from ${name}_totals order by stream_id`)).rows;
  const checkpoint = async (name: string) =>
    (await ctx.db.pool.query<{ version: number; position: number }>('select version, position from projection_checkpoints where name = $1', [name])).rows[0]!;

  it('read-your-writes progress forgets positions from before the rebuild', async () => {
    await ctx.db.pool.query(counterTable('rebuilt'));
    const p = counterTotals('rebuilt', 'halt');
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await runner.ensureRegistered(p);
    const progress = new ProjectionProgress(ctx.db.pool, ctx.db.url, silent);
    try {
      const e = await append('rebuilt:1', 5);
      await settle(runner, p, e.position);
      expect(await progress.waitFor(['rebuilt'], e.position, 0)).toBe(true);

      // Reset it, with nobody to rebuild it: the tables are empty, the position is 0 again.
      await withTransaction(ctx.db.pool, (client) => resetProjection(client, p));
      expect(await totals('rebuilt')).toEqual([]);
      // The reset is announced like any progress; once it has arrived the old position no longer counts.
      await eventually('the progress no longer believes the projection is past the event', async () => !(await progress.waitFor(['rebuilt'], e.position, 0)));
      expect(await progress.waitFor(['rebuilt'], e.position, 300)).toBe(false);

      const waiting = progress.waitFor(['rebuilt'], e.position, 10_000);
      await settle(runner, p, e.position);
      expect(await waiting).toBe(true);
      expect(await totals('rebuilt')).toEqual([{ stream_id: 'rebuilt:1', total: 5 }]);
      const [status] = await projectionStatuses(ctx.db.pool, [p]);
      expect(status).toMatchObject({ generation: 1 });
    } finally {
      await progress.close();
    }
  });

  it('a worker of an older version leaves the newer version\'s projection alone, and says so', async () => {
    await ctx.db.pool.query(counterTable('owned'));
    const newer = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await newer.ensureRegistered(versioned('owned', 2, 100));
    const first = await append('owned:1');
    await settle(newer, versioned('owned', 2, 100), first.position);
    expect(await totals('owned')).toEqual([{ stream_id: 'owned:1', total: 100 }]);

    // The previous release's worker restarts in the middle of the rolling deploy.
    const lines: string[] = [];
    const olderLog = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const older = new ProjectionRunner(ctx.db.pool, ctx.store, olderLog);
    await older.ensureRegistered(versioned('owned', 1, 1));
    expect(await totals('owned')).toEqual([{ stream_id: 'owned:1', total: 100 }]);
    expect(await checkpoint('owned')).toMatchObject({ version: 2 });
    expect(lines.map((l) => JSON.parse(l) as { level: number; msg: string; projection: string })).toEqual([
      expect.objectContaining({ level: 40, projection: 'owned', msg: expect.stringMatching(/newer version/) }),
    ]);

    const second = await append('owned:1');
    expect(await older.catchUp(versioned('owned', 1, 1))).toMatchObject({ ran: false, superseded: true, applied: 0 });
    await settle(newer, versioned('owned', 2, 100), second.position);
    expect(await totals('owned')).toEqual([{ stream_id: 'owned:1', total: 200 }]);
  });

  it('a batch never applies with the code of another version than its checkpoint\'s', async () => {
    await ctx.db.pool.query(counterTable('handover'));
    // The older worker registered and ran first, as it does before the deploy starts.
    const older = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await older.ensureRegistered(versioned('handover', 1, 1));
    const first = await append('handover:1');
    await settle(older, versioned('handover', 1, 1), first.position);

    // The newer version takes over and rebuilds; the older worker, still running, gets a wake-up.
    const newer = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await newer.ensureRegistered(versioned('handover', 2, 100));
    await append('handover:1');
    expect(await older.catchUp(versioned('handover', 1, 1))).toMatchObject({ ran: false, superseded: true, applied: 0 });
    expect(await totals('handover')).toEqual([]);
    expect(await checkpoint('handover')).toEqual({ version: 2, position: 0 });

    await settle(newer, versioned('handover', 2, 100), await ctx.store.headPosition());
    expect(await totals('handover')).toEqual([{ stream_id: 'handover:1', total: 200 }]);
  });
});
