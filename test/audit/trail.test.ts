import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, type TestApp } from '../helpers/app.js';
import { KIND_SPECS } from '../child-resources/kinds.js';
import { threatModelEventCount, userEntry, type Who } from '../threat-models/helpers.js';
import { ENTRY, TRAIL, auditApp, conforming, patchJson, wholeTrail, write } from './helpers.js';

/**
 * The audit trail's reads: entries derived from the events (one per command and entity, its
 * change type, actor, version and summary), in the contract's shapes, paged by cursor (a threat
 * model's trail) and by offset (a child's), filtered; bad input refused with the error body.
 */
describe('audit trail', () => {
  let app: TestApp;
  let alice: Who, bob: Who, carol: Who, dave: Who;
  let tm: string;
  let threat: string;
  let last: string;

  beforeAll(async () => {
    ({ app, alice, bob, carol, dave } = await auditApp());
    const created = await write(app, '/threat_models', { method: 'POST', who: alice, json: { name: 'Audited', metadata: [{ key: 'env', value: 'prod' }], authorization: [userEntry(bob, 'writer'), userEntry(carol, 'reader')] } });
    tm = (created.body as { id: string }).id;
    await write(app, `/threat_models/${tm}`, { method: 'PUT', who: bob, json: { name: 'Audited v2', description: 'put' } });
    await write(app, `/threat_models/${tm}`, { method: 'PATCH', who: alice, ...patchJson([{ op: 'replace', path: '/description', value: 'patched' }]) });
    const t = await write(app, `/threat_models/${tm}/threats`, { method: 'POST', who: bob, json: KIND_SPECS[0]!.valid });
    threat = (t.body as { id: string }).id;
    await write(app, `/threat_models/${tm}/threats/${threat}/metadata`, { method: 'POST', who: bob, json: { key: 'k', value: 'v' } });
    await write(app, `/threat_models/${tm}/threats/${threat}`, { method: 'DELETE', who: bob });
    last = (await write(app, `/threat_models/${tm}/threats/${threat}/restore`, { method: 'POST', who: alice })).position;
  });
  afterAll(async () => { await app?.stop(); });

  it('derives one entry per command and entity, newest first, with its change type, actor, version and summary', async () => {
    const entries = await wholeTrail(app, carol, tm, last);
    const shown = entries.map((e) => [e.object_type, e.change_type, e.version, (e.actor as { email: string }).email]);
    expect(shown).toEqual([
      ['threat', 'restored', 4, 'alice@tmi.local'],
      ['threat', 'deleted', 3, 'bob@tmi.local'],
      ['threat', 'updated', 2, 'bob@tmi.local'],
      ['threat', 'created', 1, 'bob@tmi.local'],
      ['threat_model', 'patched', 4, 'alice@tmi.local'],
      // The PUT changed the details only: one event, the metadata given at creation is kept.
      ['threat_model', 'updated', 3, 'bob@tmi.local'],
      // The create and its metadata are one command: one entry, at the version after both.
      ['threat_model', 'created', 2, 'alice@tmi.local'],
    ]);
    expect(entries.every((e) => e.threat_model_id === tm)).toBe(true);
    expect(entries[3]!.object_id).toBe(threat);
    expect(entries.at(-1)!.actor).toEqual({ email: 'alice@tmi.local', provider: 'tmi', provider_id: 'alice@tmi.local', display_name: 'Alice' });
    expect(entries.at(-1)!.change_summary).toBe('created the threat model; set metadata env');
    expect(entries[2]!.change_summary).toBe('set metadata k');
  });

  it('answers one entry by id; an entry of another threat model or none is 404', async () => {
    const [newest] = await wholeTrail(app, carol, tm, last);
    const { body } = await conforming(app, ENTRY, `/threat_models/${tm}/audit_trail/${newest!.id}`, 200, { who: carol });
    expect(body).toEqual(newest);
    const other = (await write(app, '/threat_models', { method: 'POST', who: alice, json: { name: 'Other' } })).body as { id: string };
    await conforming(app, ENTRY, `/threat_models/${other.id}/audit_trail/${newest!.id}`, 404, { who: alice });
    await conforming(app, ENTRY, `/threat_models/${tm}/audit_trail/0190a000-0000-7000-8000-00000000dead`, 404, { who: alice });
  });

  it('pages by cursor both ways and filters by object type, change type, actor and time', async () => {
    const all = await wholeTrail(app, carol, tm, last);
    const ids = all.map((e) => e.id);
    const first = await conforming(app, TRAIL, `/threat_models/${tm}/audit_trail?limit=3`, 200, { who: carol });
    expect(first.body).toMatchObject({ total: all.length, limit: 3, prev_cursor: null });
    expect(first.body.audit_entries.map((e: { id: string }) => e.id)).toEqual(ids.slice(0, 3));
    const second = await conforming(app, TRAIL, `/threat_models/${tm}/audit_trail?limit=3&cursor=${first.body.next_cursor}`, 200, { who: carol });
    expect(second.body.audit_entries.map((e: { id: string }) => e.id)).toEqual(ids.slice(3, 6));
    const third = await conforming(app, TRAIL, `/threat_models/${tm}/audit_trail?limit=3&cursor=${second.body.next_cursor}`, 200, { who: carol });
    expect(third.body.audit_entries.map((e: { id: string }) => e.id)).toEqual(ids.slice(6));
    expect(third.body.next_cursor).toBeNull();
    const back = await conforming(app, TRAIL, `/threat_models/${tm}/audit_trail?limit=3&cursor=${second.body.prev_cursor}`, 200, { who: carol });
    expect(back.body.audit_entries.map((e: { id: string }) => e.id)).toEqual(ids.slice(0, 3));
    expect(back.body.prev_cursor).toBeNull();

    const filtered = async (query: string) => (await wholeTrail(app, carol, tm, last, query)).map((e) => `${e.object_type}:${e.change_type}`);
    expect(await filtered('object_type=threat_model')).toEqual(['threat_model:patched', 'threat_model:updated', 'threat_model:created']);
    expect(await filtered('change_type=created')).toEqual(['threat:created', 'threat_model:created']);
    expect(await filtered('actor_email=BOB@tmi.local')).toEqual(['threat:deleted', 'threat:updated', 'threat:created', 'threat_model:updated']);
    const created = all.at(-1)!.created_at as string;
    expect(await filtered(`created_before=${encodeURIComponent(created)}`)).toEqual([]);
    expect((await filtered(`created_after=${encodeURIComponent(created)}`)).length).toBe(all.length - 1);
    const { body: counted } = await conforming(app, TRAIL, `/threat_models/${tm}/audit_trail?limit=1&object_type=threat`, 200, { who: carol });
    expect(counted.total).toBe(4);
  });

  it('a child\'s trail by offset, also once it is deleted; an unknown child is 404', async () => {
    const template = '/threat_models/{threat_model_id}/threats/{threat_id}/audit_trail';
    const path = `/threat_models/${tm}/threats/${threat}/audit_trail`;
    const { body } = await conforming(app, template, `${path}?limit=2&offset=1`, 200, { who: carol, headers: { 'x-min-position': last } });
    expect(body).toMatchObject({ total: 4, limit: 2, offset: 1 });
    expect(body.audit_entries.map((e: { change_type: string }) => e.change_type)).toEqual(['deleted', 'updated']);
    const gone = await write(app, `/threat_models/${tm}/threats/${threat}`, { method: 'DELETE', who: bob });
    const after = await conforming(app, template, path, 200, { who: carol, headers: { 'x-min-position': gone.position } });
    expect(after.body.audit_entries[0].change_type).toBe('deleted');
    await conforming(app, template, `/threat_models/${tm}/threats/0190a000-0000-7000-8000-00000000dead/audit_trail`, 404, { who: carol });
    // Another threat model's child is not this one's.
    const other = (await write(app, '/threat_models', { method: 'POST', who: alice, json: { name: 'Elsewhere', authorization: [userEntry(carol, 'reader')] } })).body as { id: string };
    await conforming(app, template, `/threat_models/${other.id}/threats/${threat}/audit_trail`, 404, { who: carol });
  });

  it('every kind of child has its trail, in the contract\'s shape', async () => {
    for (const spec of KIND_SPECS) {
      const created = await write(app, `/threat_models/${tm}/${spec.plural}`, { method: 'POST', who: bob, json: spec.valid });
      const id = (created.body as { id: string }).id;
      const template = `/threat_models/{threat_model_id}/${spec.plural}/{${spec.idParam}}/audit_trail`;
      const { body } = await conforming(app, template, `/threat_models/${tm}/${spec.plural}/${id}/audit_trail`, 200, { who: carol, headers: { 'x-min-position': created.position } });
      expect(body.audit_entries.map((e: { object_type: string; change_type: string }) => `${e.object_type}:${e.change_type}`), spec.plural)
        .toEqual([`${spec.plural === 'repositories' ? 'repository' : spec.plural.slice(0, -1)}:created`]);
    }
  });

  it('no access: 403 for a threat model out of reach, 404 for none; no token 401', async () => {
    await conforming(app, TRAIL, `/threat_models/${tm}/audit_trail`, 403, { who: dave });
    await conforming(app, TRAIL, '/threat_models/0190a000-0000-7000-8000-00000000dead/audit_trail', 404, { who: dave });
    await conforming(app, `/threat_models/{threat_model_id}/threats/{threat_id}/audit_trail`, `/threat_models/${tm}/threats/${threat}/audit_trail`, 403, { who: dave });
    expect((await app.request(`/threat_models/${tm}/audit_trail`)).status).toBe(401);
  });

  it('bad ids, bad pagination and bad filters: 400 with the error body, nothing appended', async () => {
    const before = await threatModelEventCount(app, tm);
    const bad = [
      `/threat_models/not-a-uuid/audit_trail`,
      `/threat_models/${tm}/audit_trail/not-a-uuid`,
      `/threat_models/${tm}/audit_trail?limit=0`,
      `/threat_models/${tm}/audit_trail?limit=101`,
      `/threat_models/${tm}/audit_trail?limit=ten`,
      `/threat_models/${tm}/audit_trail?cursor=nonsense`,
      `/threat_models/${tm}/audit_trail?cursor=${'x'.repeat(513)}`,
      `/threat_models/${tm}/audit_trail?cursor=${Buffer.from('older:99999999999999999999').toString('base64url')}`,
      `/threat_models/${tm}/audit_trail?object_type=user`,
      `/threat_models/${tm}/audit_trail?change_type=renamed`,
      `/threat_models/${tm}/audit_trail?actor_email=nobody`,
      `/threat_models/${tm}/audit_trail?created_after=yesterday`,
      `/threat_models/${tm}/audit_trail?unknown=1`,
      `/threat_models/${tm}/threats/not-a-uuid/audit_trail`,
      `/threat_models/${tm}/threats/${threat}/audit_trail?offset=-1`,
      `/threat_models/${tm}/threats/${threat}/audit_trail?limit=1000`,
    ];
    for (const path of bad) {
      const res = await app.request(path, { token: alice.token });
      expect(res.status, path).toBe(400);
      expect(await json(res), path).toEqual(expect.objectContaining({ error: expect.any(String), error_description: expect.any(String) }));
    }
    const rollback = await app.request(`/threat_models/${tm}/audit_trail/not-a-uuid/rollback`, { method: 'POST', token: alice.token });
    expect(rollback.status).toBe(400);
    expect(await threatModelEventCount(app, tm)).toBe(before);
  });
});
