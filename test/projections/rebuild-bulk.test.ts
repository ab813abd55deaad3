import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEvents } from '../../bench/rebuild/generate.js';
import { childStreamId } from '../../src/commands/child-resources/index.js';
import { eventCatalog } from '../../src/events/registry.js';
import { EventStore } from '../../src/events/store.js';
import { ProjectionRebuild } from '../../src/projections/rebuild.js';
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
