import type { PoolClient } from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { eventCatalog } from '../../src/events/registry.js';
import { EventStore } from '../../src/events/store.js';
import { deadLetterSweep } from '../../src/retention/dead-letters.js';
import type { StoredEvent } from '../../src/events/types.js';
import { withTransaction } from '../../src/infra/database.js';
import type { Projection } from '../../src/projections/projection.js';
import {
  dropRetired, LocksBusyError, NothingToRollBackError, ProjectionRebuild, RebuildBusyError, RebuildRefusedError, rollbackProjection, ShadowOutdatedError,
} from '../../src/projections/rebuild.js';
import { ProjectionRunner, resetProjection } from '../../src/projections/runner.js';
import { ProjectionProgress } from '../../src/projections/signals.js';
import { listDeadLetters, projectionStatuses } from '../../src/projections/status.js';
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

  it('a version bump builds beside the live version, which its own code keeps applying until the swap', async () => {
    await ctx.db.pool.query(counterTable('handover'));
    // The older worker registered and ran first, as it does before the deploy starts.
    const older = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await older.ensureRegistered(versioned('handover', 1, 1));
    const first = await append('handover:1');
    await settle(older, versioned('handover', 1, 1), first.position);

    // The newer version registers: nothing is truncated, and its code never applies to the older tables.
    const newer = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await newer.ensureRegistered(versioned('handover', 2, 100));
    expect(await totals('handover')).toEqual([{ stream_id: 'handover:1', total: 1 }]);
    const second = await append('handover:1');
    expect(await newer.catchUp(versioned('handover', 2, 100))).toMatchObject({ ran: false, applied: 0 });
    await settle(older, versioned('handover', 1, 1), second.position);
    expect(await totals('handover')).toEqual([{ stream_id: 'handover:1', total: 2 }]);
    expect(await checkpoint('handover')).toMatchObject({ version: 1 });

    const { report, swap } = await new ProjectionRebuild(ctx.db.pool, ctx.store, versioned('handover', 2, 100)).run();
    expect(report).toMatchObject({ ok: true, compared: false });
    expect(swap).toMatchObject({ version: 2, retired: 'retired_handover_v1' });
    expect(await totals('handover')).toEqual([{ stream_id: 'handover:1', total: 200 }]);
    expect(await checkpoint('handover')).toMatchObject({ version: 2 });
    expect(await older.catchUp(versioned('handover', 1, 1))).toMatchObject({ ran: false, superseded: true });
    const third = await append('handover:1');
    await settle(newer, versioned('handover', 2, 100), third.position);
    expect(await totals('handover')).toEqual([{ stream_id: 'handover:1', total: 300 }]);

    // Rollback puts version 1 back where it stood (its code catches it up); a second one rolls forward.
    expect(await rollbackProjection(ctx.db.pool, 'handover')).toMatchObject({ version: 1, retired: 'retired_handover_v2' });
    expect(await totals('handover')).toEqual([{ stream_id: 'handover:1', total: 2 }]);
    await settle(older, versioned('handover', 1, 1), third.position);
    expect(await totals('handover')).toEqual([{ stream_id: 'handover:1', total: 3 }]);
    expect(await rollbackProjection(ctx.db.pool, 'handover')).toMatchObject({ version: 2, retired: 'retired_handover_v1' });
    expect(await totals('handover')).toEqual([{ stream_id: 'handover:1', total: 300 }]);
    expect(await dropRetired(ctx.db.pool, 'handover')).toEqual(['retired_handover_v1']);
    await expect(rollbackProjection(ctx.db.pool, 'handover')).rejects.toThrow(NothingToRollBackError);
  });

  it('a rebuild of the same version matches the live tables, swaps with nothing lost, and refuses a corrupted shadow', async () => {
    await ctx.db.pool.query(counterTable('same'));
    const p = versioned('same', 1, 1);
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await runner.ensureRegistered(p);
    for (let i = 0; i < 30; i++) await append(`same:${i % 7}`, i);
    await settle(runner, p, await ctx.store.headPosition());
    const before = await totals('same');

    const corrupt = new ProjectionRebuild(ctx.db.pool, ctx.store, p, { batchSize: 8 });
    await corrupt.prepare();
    await corrupt.build();
    await ctx.db.pool.query(`update ${corrupt.schema}.same_totals set total = total + 1 where stream_id = 'same:3'`);
    const refused = await corrupt.verify();
    expect(refused).toMatchObject({ ok: false, compared: true });
    expect(refused.tables[0]!.only_in_shadow).toHaveLength(1);
    expect(refused.tables[0]!.only_in_live).toHaveLength(1);
    await corrupt.discard();
    await expect(new ProjectionRebuild(ctx.db.pool, ctx.store, p).exclusively(async () => {
      await corrupt.prepare();
      await ctx.db.pool.query(`insert into ${corrupt.schema}.same_totals values ('same:x', 1, 1)`);
      await corrupt.build();
      const report = await corrupt.verify();
      if (!report.ok) throw new RebuildRefusedError(report);
    })).rejects.toThrow(RebuildRefusedError);
    expect(await totals('same')).toEqual(before);
    await corrupt.discard();

    const { report, swap } = await new ProjectionRebuild(ctx.db.pool, ctx.store, p, { batchSize: 8 }).run();
    expect(report).toMatchObject({ ok: true, compared: true });
    expect(swap.retired).toBe('retired_same_v1');
    expect(await totals('same')).toEqual(before);
    const later = await append('same:1', 1000);
    await settle(runner, p, later.position);
    expect((await totals('same')).find((r) => r.stream_id === 'same:1')!.total).toBe(before.find((r) => r.stream_id === 'same:1')!.total + 1000);
  });

  it('rollback and drop-old wait for no rebuild of the projection and for no reader for long: they refuse, changing nothing', async () => {
    await ctx.db.pool.query(counterTable('guarded'));
    const v1 = versioned('guarded', 1, 1);
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await runner.ensureRegistered(v1);
    await settle(runner, v1, (await append('guarded:1')).position);
    await new ProjectionRebuild(ctx.db.pool, ctx.store, versioned('guarded', 2, 100)).run();
    expect(await totals('guarded')).toEqual([{ stream_id: 'guarded:1', total: 100 }]);

    // A rebuild of the projection holds its lock (here: one about to swap again).
    await new ProjectionRebuild(ctx.db.pool, ctx.store, versioned('guarded', 2, 100)).exclusively(async () => {
      await expect(rollbackProjection(ctx.db.pool, 'guarded')).rejects.toThrow(RebuildBusyError);
      await expect(dropRetired(ctx.db.pool, 'guarded')).rejects.toThrow(RebuildBusyError);
    });
    expect(await checkpoint('guarded')).toMatchObject({ version: 2 });

    // A reader holding a live table: the rollback's ALTER waits briefly, again and again, then gives up with nothing changed.
    const reader = await ctx.db.pool.connect();
    try {
      await reader.query('begin');
      await reader.query('lock table guarded_totals in access share mode');
      await expect(rollbackProjection(ctx.db.pool, 'guarded')).rejects.toThrow(LocksBusyError);
    } finally {
      await reader.query('rollback');
      reader.release();
    }
    expect(await checkpoint('guarded')).toMatchObject({ version: 2 });
    expect(await totals('guarded')).toEqual([{ stream_id: 'guarded:1', total: 100 }]);
    expect(await rollbackProjection(ctx.db.pool, 'guarded')).toMatchObject({ version: 1 });
    expect(await dropRetired(ctx.db.pool, 'guarded')).toEqual(['retired_guarded_v2']);
    expect(await dropRetired(ctx.db.pool, 'guarded')).toEqual([]);
  });

  it('the swapped-in tables keep the live tables\' grants and come with planner statistics', async () => {
    await ctx.db.pool.query(counterTable('granted'));
    // What a deployment's read-only role would hold; PUBLIC stands for it here (roles are cluster-wide, shared by every test database).
    await ctx.db.pool.query('grant select on granted_totals to public');
    await ctx.db.pool.query('grant update (total) on granted_totals to public');
    const p = versioned('granted', 1, 1);
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await runner.ensureRegistered(p);
    for (let i = 0; i < 20; i++) await append(`granted:${i}`, i);
    await settle(runner, p, await ctx.store.headPosition());
    const publicGrants = async () => (await ctx.db.pool.query<{ grant: string }>(
      `select coalesce(c.attname::text || ':', '') || a.privilege_type as grant
       from pg_class t cross join lateral (select null::name as attname, t.relacl as acl union all select attname, attacl from pg_attribute where attrelid = t.oid and attacl is not null) c
       cross join lateral aclexplode(c.acl) a
       where t.oid = 'public.granted_totals'::regclass and a.grantee = 0 order by 1`)).rows.map((r) => r.grant);
    expect(await publicGrants()).toEqual(['SELECT', 'total:UPDATE']);

    const { swap } = await new ProjectionRebuild(ctx.db.pool, ctx.store, p).run();
    expect(swap.retired).toBe('retired_granted_v1');
    expect(await publicGrants()).toEqual(['SELECT', 'total:UPDATE']);
    const { rows: stats } = await ctx.db.pool.query(`select attname from pg_stats where schemaname = 'public' and tablename = 'granted_totals' order by attname`);
    expect(stats.map((r) => r.attname)).toEqual(['applied', 'stream_id', 'total']);

    // A grant made after the swap is on the live tables only: a rollback carries it to the tables it puts back.
    await ctx.db.pool.query('grant insert on granted_totals to public');
    await rollbackProjection(ctx.db.pool, 'granted');
    expect(await publicGrants()).toEqual(['INSERT', 'SELECT', 'total:UPDATE']);
  });

  it('a shadow built to another shape than the live tables have now is not resumed: it is dropped and built anew', async () => {
    await ctx.db.pool.query(counterTable('reshaped'));
    const p = versioned('reshaped', 1, 1);
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await runner.ensureRegistered(p);
    for (let i = 0; i < 5; i++) await append(`reshaped:${i}`, i);
    await settle(runner, p, await ctx.store.headPosition());
    const columns = async (schema: string) => (await ctx.db.pool.query<{ column_name: string }>(
      `select column_name from information_schema.columns where table_schema = $1 and table_name = 'reshaped_totals' order by column_name`, [schema])).rows.map((r) => r.column_name);

    const rebuild = new ProjectionRebuild(ctx.db.pool, ctx.store, p);
    expect(await rebuild.prepare()).toEqual({ resumed: false });
    await rebuild.build();
    expect(await rebuild.prepare()).toEqual({ resumed: true });

    // The build was interrupted; meanwhile a migration added a column to the live table.
    await ctx.db.pool.query('alter table reshaped_totals add column note text');
    expect(await rebuild.prepare()).toMatchObject({ resumed: false, discarded: expect.stringMatching(/another shape/) });
    expect(await columns(rebuild.schema)).toEqual(['applied', 'note', 'stream_id', 'total']);
    expect(await rebuild.prepare()).toEqual({ resumed: true });

    // A shadow that recorded no shape (left by older code) is not trusted either.
    await ctx.db.pool.query(`alter table ${rebuild.schema}.rebuild_state drop column shape`);
    expect(await rebuild.prepare()).toMatchObject({ resumed: false, discarded: expect.stringMatching(/another shape/) });

    // A migration while the build runs (after its prepare): the swap refuses, and the live table keeps its new shape.
    await rebuild.build();
    await ctx.db.pool.query('alter table reshaped_totals add column later text');
    await expect(rebuild.swap()).rejects.toBeInstanceOf(ShadowOutdatedError);
    expect(await columns('public')).toEqual(['applied', 'later', 'note', 'stream_id', 'total']);
    await ctx.db.pool.query('alter table reshaped_totals drop column later');

    const before = await totals('reshaped');
    const { report } = await rebuild.run();
    expect(report).toMatchObject({ ok: true, compared: true });
    expect(await columns('public')).toEqual(['applied', 'note', 'stream_id', 'total']);
    expect(await totals('reshaped')).toEqual(before);
  });

  const skippedScenario = async (name: string, onPoison: 'halt' | 'skip', sweptBeforeRebuild: boolean) => {
    await ctx.db.pool.query(counterTable(name));
    const p = counterTotals(name, onPoison);
    const runner = new ProjectionRunner(ctx.db.pool, ctx.store, silent);
    await runner.ensureRegistered(p);
    await append(`${name}:1`, 1);
    await append(`${name}:1`, 13);
    const last = await append(`${name}:1`, 2);
    await settle(runner, p, last.position);
    const [letter] = await listDeadLetters(ctx.db.pool, { projection: name });
    expect(letter, name).toMatchObject({ status: 'pending' });
    expect(await runner.skipDeadLetter(p, letter!.id)).toEqual({ ok: true });
    await settle(runner, p, last.position);
    expect(await totals(name), name).toEqual([{ stream_id: `${name}:1`, total: 3 }]);
    if (sweptBeforeRebuild) {
      // The retention sweep removes old skipped letters, leaving a DeadLetterRemoved event in their place.
      const config = { ...loadConfig({ env: {} }).retention, dead_letter_seconds: 0 };
      const store = new EventStore(ctx.db.pool, eventCatalog);
      await deadLetterSweep.run({ pool: ctx.db.pool, store, config, refreshSessionSeconds: 0, metadata: testMetadata(), log: silent });
      expect(await listDeadLetters(ctx.db.pool, { projection: name }), name).toEqual([]);
    }

    const { report } = await new ProjectionRebuild(ctx.db.pool, ctx.store, p).run();
    expect(report, name).toMatchObject({ ok: true, compared: true });
    expect(await totals(name), name).toEqual([{ stream_id: `${name}:1`, total: 3 }]);
    expect(await listDeadLetters(ctx.db.pool, { projection: name }), name).toEqual([
      expect.objectContaining({ event_id: letter!.event_id, status: 'skipped' }),
    ]);
    expect((await projectionStatuses(ctx.db.pool, [p]))[0], name).toMatchObject({ halted: false, dead_letters: 0 });
  };

  it('a dead letter an operator skipped in the live version is skipped by the rebuild too, and stays skipped', async () => {
    await skippedScenario('skiphalt', 'halt', false);
    await skippedScenario('skipskip', 'skip', false);
  });

  it('so is one the retention sweep has removed since (its DeadLetterRemoved event says it was skipped)', async () => {
    await skippedScenario('sweptskiphalt', 'halt', true);
    await skippedScenario('sweptskipskip', 'skip', true);
  });
});
