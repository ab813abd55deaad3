import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { threatModelDecider } from '../../src/application/threat-models.js';
import { decide, evolve, initialState, threatModelStreamId, type ThreatModelCommand } from '../../src/commands/threat-models/index.js';
import { EventCatalog } from '../../src/events/catalog.js';
import { eventCatalog } from '../../src/events/registry.js';
import { EventStore } from '../../src/events/store.js';
import { metadataProjection } from '../../src/projections/metadata.js';
import type { Projection } from '../../src/projections/projection.js';
import { ProjectionRunner, resetProjection } from '../../src/projections/runner.js';
import { threatModelAccessProjection } from '../../src/projections/threat-model-access.js';
import { createThreatModelsProjection } from '../../src/projections/threat-models.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { testMetadata } from '../helpers/events.js';
import { caller, groupEntry, userEntry } from './fixtures.js';

// Child resources do not exist yet; these stand-in events exercise the count rules they will use.
const childEvents = [
  { type: 'TestThreatAdded', version: 1, schema: Type.Object({ threat_model_id: Type.String() }) },
  { type: 'TestThreatRemoved', version: 1, schema: Type.Object({ threat_model_id: Type.String() }) },
  { type: 'TestNoteAdded', version: 1, schema: Type.Object({ threat_model_id: Type.String() }) },
];
const threatModels = createThreatModelsProjection({
  version: 1,
  rules: {
    TestThreatAdded: { column: 'threat_count', delta: () => 1 },
    TestThreatRemoved: { column: 'threat_count', delta: () => -1 },
    TestNoteAdded: { column: 'note_count', delta: () => 1 },
  },
});
const ours: Projection[] = [threatModels, threatModelAccessProjection, metadataProjection];

const alice = caller('alice');
const bob = caller('bob');
const ids = Array.from({ length: 6 }, (_, i) => `0190a000-0000-7000-8000-00000000000${i}`);
const log = pino({ level: 'silent' });

describe('threat model projections on PostgreSQL', () => {
  let db: TestDatabase;
  let store: EventStore;
  beforeAll(async () => {
    db = await createTestDatabase();
    const catalog = new EventCatalog().register(...eventCatalog.types().map((type) => ({ type, version: 1, schema: Type.Any() })), ...childEvents);
    store = new EventStore(db.pool, catalog);
  });
  afterAll(async () => { await db?.drop(); });

  type WithoutNow = ThreatModelCommand extends infer C ? C extends unknown ? Omit<C, 'now'> : never : never;
  async function run(streamId: string, command: WithoutNow) {
    const events = await store.readStream(streamId);
    const state = events.reduce((s, e) => evolve(s, { type: e.type, data: e.data } as never), initialState());
    const decided = decide({ ...command, now: new Date().toISOString() } as ThreatModelCommand, state);
    const version = events.at(-1)?.version ?? 0;
    await store.appendToStream({ stream_id: streamId, stream_type: threatModelDecider.streamType, expected: version || 'no_stream', events: decided }, { metadata: testMetadata() });
  }
  const child = (id: string, type: string) =>
    store.appendToStream({ stream_id: `child-${id}-${Math.random()}`, stream_type: 'child', expected: 'no_stream', events: [{ type, data: { threat_model_id: id } }] }, { metadata: testMetadata() });

  async function dump() {
    const q = async (sql: string) => (await db.pool.query(sql)).rows;
    return {
      threat_models: await q('select * from threat_models order by id'),
      access: await q('select * from threat_model_access order by threat_model_id, principal_type, provider, subject'),
      metadata: await q('select * from metadata order by entity_id, key'),
      // Positions are left out: a checkpoint may rest anywhere up to the settled horizon, which moves on its own.
      halted: await q(`select name from projection_checkpoints where halted_at is not null`),
    };
  }

  it('counts and access rows follow the events; two copies running at once change nothing', async () => {
    for (const [i, id] of ids.entries()) {
      await run(threatModelStreamId(id), {
        type: 'CreateThreatModel', caller: alice, threat_model_id: id, alias: i + 1,
        input: { name: `TM ${i}`, authorization: [userEntry(bob, 'reader')], metadata: [{ key: 'n', value: String(i) }] },
      });
    }
    const [first, second] = ids;
    await run(threatModelStreamId(first!), { type: 'ReplaceThreatModel', caller: alice, input: { name: 'TM 0', authorization: [groupEntry('auditors', 'writer')] } });
    await run(threatModelStreamId(second!), { type: 'DeleteThreatModel', caller: alice });
    for (let i = 0; i < 3; i++) await child(first!, 'TestThreatAdded');
    await child(first!, 'TestThreatRemoved');
    await child(first!, 'TestNoteAdded');

    // Two independent runners (as two worker processes would be) race over the same projections.
    const a = new ProjectionRunner(db.pool, store, log, 4);
    const b = new ProjectionRunner(db.pool, store, log, 4);
    for (const p of ours) await a.ensureRegistered(p);
    await Promise.all(ours.flatMap((p) => [a.catchUp(p), b.catchUp(p), a.catchUp(p), b.catchUp(p)]));
    for (const p of ours) { await a.catchUp(p); await b.catchUp(p); }
    const raced = await dump();

    const row = raced.threat_models.find((r) => r.id === first)!;
    expect(row).toMatchObject({ threat_count: 2, note_count: 1, document_count: 0, repo_count: 0, diagram_count: 0, asset_count: 0, version: 3 });
    expect(raced.threat_models.find((r) => r.id === second)!.deleted_at).toBeInstanceOf(Date);
    expect(raced.access.filter((r) => r.threat_model_id === first).map((r) => [r.principal_type, r.subject, r.role])).toEqual([
      ['group', 'auditors', 'writer'], ['user', 'alice@tmi.local', 'owner'],
    ]);
    expect(raced.access.filter((r) => r.threat_model_id === ids[3]).map((r) => [r.principal_type, r.subject, r.role])).toEqual([
      ['group', 'security-reviewers', 'owner'], ['group', 'tmi-automation', 'writer'], ['user', 'alice@tmi.local', 'owner'], ['user', 'bob@tmi.local', 'reader'],
    ]);
    expect(raced.metadata).toHaveLength(ids.length);

    // A rebuild by a single copy from the first event gives the very same tables.
    const client = await db.pool.connect();
    try { for (const p of ours) await resetProjection(client, p); } finally { client.release(); }
    const single = new ProjectionRunner(db.pool, store, log);
    for (const p of ours) await single.catchUp(p);
    expect(await dump()).toEqual(raced);
  });
});
