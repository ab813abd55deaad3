import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveEntries, AUDITED_EVENT_TYPES } from '../../src/commands/audit/entries.js';
import { threatModelStreamId } from '../../src/commands/threat-models/events.js';
import type { StoredEvent } from '../../src/events/types.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { pollUntil } from '../helpers/eventually.js';
import { loginWithDevProvider } from '../helpers/login.js';
import { threatsSpec } from '../child-resources/kinds.js';
import { signIn, type Who } from '../threat-models/helpers.js';
import { patchJson, wholeTrail, write } from './helpers.js';

/**
 * The `audit_entries` projection, folded event by event across batches, holds exactly the entries
 * the pure derivation makes of the same events at once (one per command and stream: a bulk makes one
 * per child, an idempotent resend none); an event from before the actor's provider id and name
 * were recorded shows them from the user's record.
 */
describe('audit_entries projection', () => {
  let app: TestApp;
  let alice: Who;
  beforeAll(async () => {
    // No safety net within the test: only wake-ups move the trail.
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000, projection_safety_net_ms: 3_600_000 } } });
    alice = signIn(app, 'alice');
  });
  afterAll(async () => { await app?.stop(); });

  async function allEvents(): Promise<StoredEvent[]> {
    const events: StoredEvent[] = [];
    for (let after = 0; ;) {
      const page = await app.runtime.services.store.readAll({ after, limit: 500, types: [...AUDITED_EVENT_TYPES] });
      events.push(...page.events);
      if (page.events.length === 0) return events;
      after = page.events.at(-1)!.position;
    }
  }

  it('equals the derivation of the events, entry for entry', async () => {
    const tm = ((await write(app, '/threat_models', { method: 'POST', who: alice, json: { name: 'Projected', metadata: [{ key: 'a', value: '1' }] } })).body as { id: string }).id;
    await write(app, `/threat_models/${tm}`, { method: 'PATCH', who: alice, ...patchJson([{ op: 'replace', path: '/name', value: 'P2' }, { op: 'add', path: '/metadata/-', value: { key: 'b', value: '2' } }]) });
    const bulk = await write(app, `/threat_models/${tm}/threats/bulk`, { method: 'POST', who: alice, json: [threatsSpec.valid, threatsSpec.valid, threatsSpec.valid] });
    const [first] = bulk.body as { id: string }[];
    const put = { method: 'PUT', who: alice, json: threatsSpec.replacement, headers: { 'idempotency-key': 'audit-once' } };
    await write(app, `/threat_models/${tm}/threats/${first!.id}`, put);
    const last = await write(app, `/threat_models/${tm}/threats/${first!.id}`, put);

    const trail = await wholeTrail(app, alice, tm, last.position);
    const derived = deriveEntries(await allEvents()).filter((e) => e.threat_model_id === tm).reverse();
    expect(trail.map((e) => [e.id, e.object_type, e.object_id, e.change_type, e.version, e.change_summary])).toEqual(
      derived.map((e) => [e.id, e.object_type, e.object_id, e.change.change_type, e.version, e.change.summary.join('; ')]));
    expect(trail.map((e) => `${e.object_type}:${e.change_type}`)).toEqual([
      'threat:updated', 'threat:created', 'threat:created', 'threat:created', 'threat_model:patched', 'threat_model:created',
    ]);
  });

  // Runs after the first test, so the start-up catch-up of every projection is long over: without the
  // command's wake-up nothing moves the trail (checked: it fails with alsoWake emptied).
  it('a command wakes the trail: a read without X-Min-Position comes to show it', async () => {
    const tm = ((await write(app, '/threat_models', { method: 'POST', who: alice, json: { name: 'Woken' } })).body as { id: string }).id;
    await write(app, `/threat_models/${tm}`, { method: 'PUT', who: alice, json: { name: 'Woken again' } });
    const shown = await pollUntil(async () => {
      const body = await json(await app.request(`/threat_models/${tm}/audit_trail`, { token: alice.token }));
      return body.audit_entries.some((e: { change_type: string }) => e.change_type === 'updated');
    });
    expect(shown).toBe(true);
  });

  it('an event recorded without the actor\'s provider id and name shows them from the user\'s record', async () => {
    const tokens = await loginWithDevProvider(app, 'olga');
    const created = await app.request('/threat_models', { method: 'POST', token: tokens.access_token, json: { name: 'Old actor' } });
    const tm = (await json(created)).id as string;
    const { rows } = await app.runtime.services.database.pool.query<{ internal_uuid: string; provider_user_id: string; name: string; email: string }>(
      'select internal_uuid, provider_user_id, name, email from users where email = $1', ['olga@tmi.local']);
    const user = rows[0]!;
    const store = app.runtime.services.store;
    const stream = threatModelStreamId(tm);
    const result = await store.appendToStream({
      stream_id: stream, stream_type: 'threat_model', expected: await store.streamVersion(stream),
      events: [{ type: 'MetadataEntriesSet', data: { entity_type: 'threat_model', entity_id: tm, entries: [{ key: 'old', value: 'v' }], at: new Date().toISOString() } }],
    }, { metadata: { actor: { user_id: user.internal_uuid, email: user.email, provider: 'tmi' }, trace_id: null, correlation_id: null, causation_id: null, request_id: 'before-the-trail' } });
    app.runtime.services.wakeups.wake(['audit_trail']);
    const res = await app.request(`/threat_models/${tm}/audit_trail?limit=1`, { token: tokens.access_token, headers: { 'x-min-position': String(result.position) } });
    const entry = (await json(res)).audit_entries[0];
    expect(entry).toMatchObject({ change_type: 'updated', change_summary: 'set metadata old' });
    expect(entry.actor).toEqual({ email: user.email, provider: 'tmi', provider_id: user.provider_user_id, display_name: user.name });
  });
});
