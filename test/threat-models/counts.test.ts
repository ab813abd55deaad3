import { Type } from '@sinclair/typebox';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { threatModelStreamId } from '../../src/commands/threat-models/events.js';
import { EventCatalog } from '../../src/events/catalog.js';
import { eventCatalog } from '../../src/events/registry.js';
import { EventStore } from '../../src/events/store.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { listDeadLetters, projectionStatuses } from '../../src/projections/status.js';
import { createThreatModelsProjection, type ChildCountRules } from '../../src/projections/threat-models.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { testMetadata } from '../helpers/events.js';

// Bulk child events as the next child resources will have them: one event for n children.
const Bulk = Type.Object({ threat_model_id: Type.String(), threat_ids: Type.Array(Type.String()) });
const rules: ChildCountRules = {
  version: 1,
  rules: {
    TestThreatsCreated: { column: 'threat_count', delta: (d: { threat_ids: string[] }) => d.threat_ids.length },
    TestThreatsDeleted: { column: 'threat_count', delta: (d: { threat_ids: string[] }) => -d.threat_ids.length },
    TestNoteCreated: { column: 'note_count', delta: () => 1 },
  },
};
const log = pino({ level: 'silent' });
const user = { principal_type: 'user', provider: 'tmi', provider_id: 'alice@tmi.local', display_name: 'Alice', email: 'alice@tmi.local' };

/** The threat models projection's cached counts, with test-only count rules and no decider. */
describe('threat model child counts', () => {
  let db: TestDatabase;
  let store: EventStore;
  const projection = createThreatModelsProjection(rules);
  let runner: ProjectionRunner;

  beforeAll(async () => {
    db = await createTestDatabase();
    const catalog = new EventCatalog().register(
      ...eventCatalog.types().map((type) => ({ type, version: 1, schema: Type.Any() })),
      { type: 'TestThreatsCreated', version: 1, schema: Bulk },
      { type: 'TestThreatsDeleted', version: 1, schema: Bulk },
      { type: 'TestNoteCreated', version: 1, schema: Type.Object({ threat_model_id: Type.String() }) },
    );
    store = new EventStore(db.pool, catalog);
    runner = new ProjectionRunner(db.pool, store, log);
    await runner.ensureRegistered(projection);
  });
  afterAll(async () => { await db?.drop(); });

  const createThreatModel = (id: string) => store.appendToStream({
    stream_id: threatModelStreamId(id), stream_type: 'threat_model', expected: 'no_stream',
    events: [{ type: 'ThreatModelCreated', data: {
      threat_model_id: id, alias: 1, name: 'Counted', description: null, threat_model_framework: 'STRIDE', issue_uri: null, project_id: null,
      status: 'not_started', status_updated: null, security_reviewer: null, is_confidential: false, owner: user, created_by: user,
      authorization: [{ ...user, role: 'owner' }], created_at: new Date().toISOString(),
    } }],
  }, { metadata: testMetadata() });
  const child = (type: string, data: Record<string, unknown>) =>
    store.appendToStream({ stream_id: `child-${Math.random()}`, stream_type: 'child', expected: 'no_stream', events: [{ type, data }] }, { metadata: testMetadata() });
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `t-${i}`);
  const counts = async (id: string) =>
    (await db.pool.query('select threat_count, note_count from threat_models where id = $1', [id])).rows[0];

  /** Runs the projection until it has passed `position` or halted (other files share the cluster's horizon). */
  async function settle(position: number) {
    for (let i = 0; i < 1000; i++) {
      const r = await runner.catchUp(projection);
      if (r.halted || r.position >= position) return r;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`did not reach ${position}`);
  }

  it('a bulk event moves a count by its n', async () => {
    const id = '0190a000-0000-7000-8000-0000000000c1';
    await createThreatModel(id);
    await child('TestThreatsCreated', { threat_model_id: id, threat_ids: ids(20) });
    await child('TestNoteCreated', { threat_model_id: id });
    const last = await child('TestThreatsDeleted', { threat_model_id: id, threat_ids: ids(7) });
    expect((await settle(last.position)).halted).toBe(false);
    expect(await counts(id)).toEqual({ threat_count: 13, note_count: 1 });
    expect(await listDeadLetters(db.pool, { projection: projection.name })).toEqual([]);
  });

  it('an event that would drive a count below zero is dead-lettered and halts the projection; the count is not clamped', async () => {
    const id = '0190a000-0000-7000-8000-0000000000c2';
    await createThreatModel(id);
    await child('TestThreatsCreated', { threat_model_id: id, threat_ids: ids(2) });
    const bad = await child('TestThreatsDeleted', { threat_model_id: id, threat_ids: ids(3) });
    const after = await child('TestNoteCreated', { threat_model_id: id });
    const r = await settle(after.position);
    expect(r.halted).toBe(true);
    expect(await counts(id)).toEqual({ threat_count: 2, note_count: 0 });
    const letters = await listDeadLetters(db.pool, { projection: projection.name });
    expect(letters).toEqual([expect.objectContaining({
      event_id: bad.events[0]!.event_id, event_type: 'TestThreatsDeleted', status: 'pending',
      error: expect.stringContaining('threat_models_threat_count_not_negative'),
    })]);
    const [status] = await projectionStatuses(db.pool, [projection]);
    expect(status).toMatchObject({ halted: true, dead_letters: 1 });

    // Once someone has looked at it and skipped it, the projection goes on with the events after it.
    await runner.skipDeadLetter(projection, letters[0]!.id);
    expect((await settle(after.position)).halted).toBe(false);
    expect(await counts(id)).toEqual({ threat_count: 2, note_count: 1 });
  });

  it('a count for a threat model the table does not have is dead-lettered too', async () => {
    const missing = await child('TestNoteCreated', { threat_model_id: '0190a000-0000-7000-8000-0000000000c3' });
    expect((await settle(missing.position)).halted).toBe(true);
    const letters = await listDeadLetters(db.pool, { projection: projection.name, status: 'pending' });
    expect(letters).toEqual([expect.objectContaining({ event_id: missing.events[0]!.event_id, error: expect.stringContaining('has no row') })]);
    await runner.skipDeadLetter(projection, letters[0]!.id);
  });

  it('the count rules\' version is part of the projection\'s version, so changed rules rebuild the counts', () => {
    expect(createThreatModelsProjection({ ...rules, version: 2 }).version).toBeGreaterThan(projection.version);
    expect(projection.handles).toEqual(expect.arrayContaining(['ThreatModelCreated', 'TestThreatsCreated', 'TestThreatsDeleted', 'TestNoteCreated']));
  });
});
