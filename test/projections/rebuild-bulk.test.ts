import pg from 'pg';
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEvents } from '../../bench/rebuild/generate.js';
import { childStreamId } from '../../src/commands/child-resources/index.js';
import { eventCatalog } from '../../src/events/registry.js';
import { EventStore } from '../../src/events/store.js';
import type { Projection } from '../../src/projections/projection.js';
import { ProjectionRebuild, RebuildBusyError, RebuildLocks } from '../../src/projections/rebuild.js';
import { rebuildTogether } from '../../src/projections/rebuild-together.js';
import { projectionNamed, projections } from '../../src/projections/registry.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { tableDigest } from '../../src/projections/table-digest.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { testMetadata } from '../helpers/events.js';
import { settle } from '../helpers/projections.js';

const silent = pino({ level: 'silent' });
const withBulk = projections.filter((p) => p.bulk);

/**
 * The bulk phase of a rebuild against the per-event path it stands in for: the live tables are
 * built event by event by the ordinary projector, then a rebuild of the same version builds its
 * shadow in bulk, and the same-version verify compares the two, table by table (tableDigest at
 * one snapshot). Events are the bench's: each threat model's life decided by the domain's deciders.
 */
describe('bulk-built rebuilds equal the per-event projection', () => {
  let db: TestDatabase;
  let store: EventStore;
  let head: number;
  let byType: Record<string, number>;
  beforeAll(async () => {
    db = await createTestDatabase();
    store = new EventStore(db.pool, eventCatalog);
    ({ byType } = await generateEvents(db.pool, 3_000, () => {}));
    head = await store.headPosition();
  });
  afterAll(async () => { await db?.drop(); });

  it('the projections carrying the volume have a bulk fold, and the events change, delete, restore and share what they made', () => {
    expect(withBulk.map((p) => p.name)).toEqual(expect.arrayContaining(['threat_models', 'threats', 'documents', 'metadata', 'audit_trail', 'threat_model_access', 'threat_dashboard']));
    for (const type of ['DiagramCellsPatched', 'ThreatChanged', 'ThreatDeleted', 'ThreatRestored', 'DocumentDeleted', 'MetadataEntriesRemoved', 'ThreatModelAccessChanged', 'ThreatModelDeleted', 'ThreatModelRestored']) {
      expect(byType[type], type).toBeGreaterThan(0);
    }
  });

  for (const p of withBulk) {
    it(`${p.name}: the bulk-built shadow has exactly the live tables' rows`, async () => {
      const runner = new ProjectionRunner(db.pool, store, silent);
      await runner.ensureRegistered(p);
      await settle(runner, p, head);

      const rebuild = new ProjectionRebuild(db.pool, store, p);
      await rebuild.exclusively(async () => {
        await rebuild.prepare();
        const summary = await rebuild.build();
        expect(summary.bulk_refused).toBeUndefined();
        expect(summary.bulk_applied).toBeGreaterThan(0);
        const report = await rebuild.verify();
        expect(report.problems).toEqual([]);
        expect(report).toMatchObject({ compared: true, ok: true });
        for (const t of p.tables) {
          const [bulk, live] = [await tableDigest(db.pool, t, rebuild.schema), await tableDigest(db.pool, t)];
          expect(bulk.rows, t).toBeGreaterThan(0);
          expect(bulk, t).toEqual(live);
        }
        await rebuild.swap();
      });
    });
  }
});

describe('a bulk fold that refuses an event', () => {
  it('writes nothing, and the build applies event by event from the first one, where apply names the event', async () => {
    const db = await createTestDatabase();
    try {
      const store = new EventStore(db.pool, eventCatalog);
      await generateEvents(db.pool, 300, () => {});
      const { rows: [created] } = await db.pool.query<{ tm: string }>(`select data->>'threat_model_id' as tm from events where type = 'ThreatCreated' limit 1`);
      // A deletion of a threat never created: the fold and the apply both refuse it.
      const ghost = uuidv7();
      await store.appendToStream({ stream_id: childStreamId('threat', ghost), stream_type: 'threat', expected: 'any',
        events: [{ type: 'ThreatDeleted', data: { threat_model_id: created!.tm, id: ghost, deleted_at: new Date().toISOString() } }] }, { metadata: testMetadata() });
      const rebuild = new ProjectionRebuild(db.pool, store, projectionNamed('threats'));
      await rebuild.prepare();
      await expect(rebuild.build()).rejects.toThrow(new RegExp(`rebuild of threats: .*ThreatDeleted`));
      const { rows: [shadow] } = await db.pool.query<{ n: number }>(`select count(*)::int as n from "${rebuild.schema}".threats`);
      expect(shadow!.n).toBe(0);
      const { rows: [state] } = await db.pool.query<{ applied: string }>(`select applied from "${rebuild.schema}".rebuild_state`);
      expect(Number(state!.applied)).toBe(0);
    } finally {
      await db.drop();
    }
  });
});

describe('rebuilding every projection together (one shared read)', () => {
  it('builds each from one pass over the store, equal to the per-event live tables, and swaps them all', async () => {
    const db = await createTestDatabase();
    try {
      const store = new EventStore(db.pool, eventCatalog);
      await generateEvents(db.pool, 1_500, () => {});
      const head = await store.headPosition();
      const runner = new ProjectionRunner(db.pool, store, silent);
      for (const p of projections) {
        await runner.ensureRegistered(p);
        await settle(runner, p, head);
      }
      let copies = 0;
      const counting = new Proxy(store, {
        get(target, key, receiver) {
          if (key !== 'copyAll') return Reflect.get(target, key, receiver) as unknown;
          return (...args: Parameters<EventStore['copyAll']>) => {
            copies++;
            return target.copyAll(...args);
          };
        },
      });
      const outcomes = await rebuildTogether(db.pool, counting, projections);
      expect(outcomes.map((o) => o.projection)).toEqual(projections.map((p) => p.name));
      for (const o of outcomes) {
        if ('error' in o) throw o.error;
        expect(o.report, o.projection).toMatchObject({ ok: true, compared: true, problems: [] });
        expect(o.swap.version).toBe(projectionNamed(o.projection).version);
        if (projectionNamed(o.projection).bulk) expect(o.build.bulk_applied, o.projection).toBeGreaterThan(0);
      }
      // The bulk phase read the store once for all of them, not once per projection with a fold.
      expect(copies).toBe(1);
    } finally {
      await db.drop();
    }
  });

  it('a fold that refuses, or a projection that fails, leaves the others swapping', async () => {
    const db = await createTestDatabase();
    try {
      const store = new EventStore(db.pool, eventCatalog);
      await generateEvents(db.pool, 300, () => {});
      const refusing: Projection = { ...projectionNamed('documents'), bulk: () => ({ add() { throw new Error('this fold refuses'); }, rows: () => [] }) };
      const failing: Projection = { ...projectionNamed('notes'), apply: () => Promise.reject(new Error('apply broke')), bulk: undefined };
      const outcomes = await rebuildTogether(db.pool, store, [projectionNamed('threats'), refusing, failing]);
      const [threats, documents, notes] = outcomes;
      expect(threats).toMatchObject({ projection: 'threats', report: { ok: true } });
      expect(documents).toMatchObject({ projection: 'documents', build: { bulk_applied: 0, bulk_refused: 'this fold refuses' }, report: { ok: true } });
      expect(notes).toMatchObject({ projection: 'notes', error: { message: expect.stringMatching(/apply broke/) } });
      const { rows } = await db.pool.query<{ name: string }>('select name from projection_checkpoints order by name');
      expect(rows.map((r) => r.name)).toEqual(['documents', 'threats']);
      expect(Number((await db.pool.query<{ n: string }>('select count(*) as n from documents')).rows[0]!.n)).toBeGreaterThan(0);
    } finally {
      await db.drop();
    }
  });

  it('refuses a pool too small to hold the rebuild locks beside its work, at once instead of waiting on itself', async () => {
    const db = await createTestDatabase();
    const single = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      await expect(rebuildTogether(single, new EventStore(single, eventCatalog), [projectionNamed('notes')])).rejects.toThrow(/at least 2 connections/);
    } finally {
      await single.end();
      await db.drop();
    }
  });

  it('a lock holder whose session was lost says so before a swap, and its locks are free for another builder', async () => {
    const db = await createTestDatabase();
    try {
      const locks = await RebuildLocks.open(db.pool);
      expect(await locks.tryLock('notes')).toBe(true);
      await locks.assertHeld('notes');
      // The holder's session ends behind its back (a restart, an operator's pg_terminate_backend).
      const { rows } = await db.pool.query<{ ended: boolean }>(
        `select pg_terminate_backend(pid) as ended from pg_locks join pg_stat_activity using (pid)
         where locktype = 'advisory' and granted and datname = current_database()`);
      expect(rows.map((r) => r.ended)).toEqual([true]);
      await expect(locks.assertHeld('notes')).rejects.toThrow(/was lost/);
      await locks.close();
      const other = await RebuildLocks.open(db.pool);
      expect(await other.tryLock('notes')).toBe(true);
      await other.close();
    } finally {
      await db.drop();
    }
  });

  it('a projection another process rebuilds is that one\'s outcome (busy); the others build, and each lock is let go at its outcome', async () => {
    const db = await createTestDatabase();
    try {
      const store = new EventStore(db.pool, eventCatalog);
      await generateEvents(db.pool, 300, () => {});
      const other = new ProjectionRebuild(db.pool, store, projectionNamed('notes'));
      await other.exclusively(async () => {
        const outcomes = await rebuildTogether(db.pool, store, [projectionNamed('threats'), projectionNamed('notes')]);
        expect(outcomes[0]).toMatchObject({ projection: 'threats', report: { ok: true } });
        expect(outcomes[1]).toMatchObject({ projection: 'notes' });
        expect((outcomes[1] as { error: Error }).error).toBeInstanceOf(RebuildBusyError);
      });
      // Nothing is held after the run: both can be taken again.
      for (const name of ['threats', 'notes']) {
        await expect(new ProjectionRebuild(db.pool, store, projectionNamed(name)).exclusively(async () => 'held')).resolves.toBe('held');
      }
    } finally {
      await db.drop();
    }
  });

  it('lets a projection\'s lock go as soon as it is swapped, while others are still building', async () => {
    const db = await createTestDatabase();
    try {
      const store = new EventStore(db.pool, eventCatalog);
      await generateEvents(db.pool, 300, () => {});
      let takenWhileOthersBuilt = false;
      const slow: Projection = {
        ...projectionNamed('notes'), bulk: undefined,
        // notes applies event by event after threats has swapped (one lane): by then threats' lock must be free.
        apply: async (event, client) => {
          if (!takenWhileOthersBuilt) {
            takenWhileOthersBuilt = await new ProjectionRebuild(db.pool, store, projectionNamed('threats')).exclusively(async () => true).catch(() => false);
          }
          await projectionNamed('notes').apply(event, client);
        },
      };
      const outcomes = await rebuildTogether(db.pool, store, [projectionNamed('threats'), slow], { parallel: 1 });
      expect(outcomes.every((o) => !('error' in o)), JSON.stringify(outcomes.filter((o) => 'error' in o))).toBe(true);
      expect(takenWhileOthersBuilt).toBe(true);
    } finally {
      await db.drop();
    }
  });
});
