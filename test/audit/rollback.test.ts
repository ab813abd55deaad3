import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertErrorBody } from '../contract/contract.js';
import { json, type TestApp } from '../helpers/app.js';
import { threatsSpec } from '../child-resources/kinds.js';
import { threatModelEventCount, userEntry, type Who } from '../threat-models/helpers.js';
import { ROLLBACK, auditApp, conforming, patchJson, wholeTrail, write } from './helpers.js';

type Body = Record<string, unknown>;
/** What a GET shows, less what every change moves (the time and the version). */
const stable = ({ modified_at: _m, version: _v, ...rest }: Body) => rest;

/**
 * Rollback to an audit entry: the entity as GET showed it at that entry, by new events marked as a
 * rollback (nothing erased); owners only; a diagram in a collaboration session refuses it as every
 * REST write does.
 */
describe('audit trail rollback', () => {
  let app: TestApp;
  let alice: Who, bob: Who, carol: Who, dave: Who;

  beforeAll(async () => {
    ({ app, alice, bob, carol, dave } = await auditApp());
  });
  afterAll(async () => { await app?.stop(); });

  const get = async (path: string, who: Who = alice): Promise<Body> => json(await app.request(path, { token: who.token }));
  const trail = (tm: string, position: string | number) => wholeTrail(app, alice, tm, position);
  const rollback = (tm: string, entry: string, status: number, who: Who = alice) =>
    conforming(app, ROLLBACK, `/threat_models/${tm}/audit_trail/${entry}/rollback`, status, { method: 'POST', who });
  const newThreatModel = async (name = 'Rolled') =>
    ((await write(app, '/threat_models', { method: 'POST', who: alice, json: { name, authorization: [userEntry(bob, 'writer'), userEntry(carol, 'reader')] } })).body as { id: string }).id;

  it('a threat model goes back to its details and metadata at the entry, as new events; who has access stays', async () => {
    const tm = await newThreatModel();
    const url = `/threat_models/${tm}`;
    await write(app, url, { method: 'PUT', who: bob, json: { name: 'Second', description: 'then', metadata: [{ key: 'env', value: 'stage' }] } });
    const then = await get(url);
    await write(app, url, { method: 'PATCH', who: alice, ...patchJson([{ op: 'replace', path: '/name', value: 'Third' }, { op: 'replace', path: '/description', value: 'now' }]) });
    await write(app, `${url}/metadata/env`, { method: 'PUT', who: bob, json: { value: 'prod' } });
    const granted = await write(app, url, { method: 'PATCH', who: alice, ...patchJson([{ op: 'add', path: '/authorization/-', value: userEntry(dave, 'reader') }]) });

    const entries = await trail(tm, granted.position);
    const put = entries.find((e) => e.change_type === 'updated' && e.version === then.version)!;
    expect(put).toBeDefined();
    const before = await threatModelEventCount(app, tm);
    const { body, position } = await rollback(tm, put.id as string, 200);

    const now = await get(url);
    const { authorization: _a, ...thenContent } = stable(then);
    const { authorization, ...nowContent } = stable(now);
    expect(nowContent).toEqual(thenContent);
    // Dave keeps the access granted after the entry.
    expect(authorization).toEqual(expect.arrayContaining([expect.objectContaining({ provider_id: 'dave@tmi.local', role: 'reader' })]));
    expect(stable(body.restored_entity)).toEqual(stable(now));

    // New events, the old ones all still there.
    expect(await threatModelEventCount(app, tm)).toBeGreaterThan(before);
    const after = await trail(tm, position!);
    expect(after.slice(1)).toEqual(entries);
    expect(after[0]).toEqual(body.audit_entry);
    expect(body.audit_entry).toMatchObject({
      object_type: 'threat_model', object_id: tm, change_type: 'rolled_back', version: now.version,
      actor: { email: 'alice@tmi.local', provider: 'tmi', provider_id: 'alice@tmi.local', display_name: 'Alice' },
    });
    expect(body.audit_entry.change_summary).toMatch(new RegExp(`^rolled back to version ${then.version}: `));
    const { body: filtered } = await conforming(app, '/threat_models/{threat_model_id}/audit_trail', `/threat_models/${tm}/audit_trail?change_type=rolled_back`, 200, { who: carol });
    expect(filtered.audit_entries.map((e: Body) => e.id)).toEqual([body.audit_entry.id]);
  });

  it('a child goes back to the entry: restored, fields and metadata as GET showed them; to a deleted entry, deleted', async () => {
    const tm = await newThreatModel();
    const threats = `/threat_models/${tm}/threats`;
    const id = ((await write(app, threats, { method: 'POST', who: bob, json: { ...threatsSpec.valid, metadata: [{ key: 'a', value: '1' }] } })).body as Body).id as string;
    const item = `${threats}/${id}`;
    const created = await get(item);
    await write(app, item, { method: 'PUT', who: bob, json: threatsSpec.replacement });
    await write(app, `${item}/metadata`, { method: 'POST', who: bob, json: { key: 'b', value: '2' } });
    const deleted = await write(app, item, { method: 'DELETE', who: bob });

    const entries = await trail(tm, deleted.position);
    const creation = entries.find((e) => e.object_id === id && e.change_type === 'created')!;
    const { body, position } = await rollback(tm, creation.id as string, 200);
    const now = await get(item);
    expect(stable(now)).toEqual(stable(created));
    expect(stable(body.restored_entity)).toEqual(stable(now));
    expect(body.audit_entry).toMatchObject({ object_type: 'threat', object_id: id, change_type: 'rolled_back', version: now.version });

    // Back to the deletion: deleted again.
    const deletion = (await trail(tm, position!)).find((e) => e.object_id === id && e.change_type === 'deleted')!;
    const again = await rollback(tm, deletion.id as string, 200);
    expect(again.body.restored_entity).toBeUndefined();
    expect(again.body.audit_entry.change_type).toBe('rolled_back');
    expect((await app.request(item, { token: alice.token })).status).toBe(404);
    const { body: own } = await conforming(app, '/threat_models/{threat_model_id}/threats/{threat_id}/audit_trail', `${item}/audit_trail`, 200, { who: carol, headers: { 'x-min-position': again.position! } });
    expect(own.audit_entries.map((e: Body) => e.change_type)).toEqual(['rolled_back', 'rolled_back', 'deleted', 'updated', 'updated', 'created']);
  });

  it('a rollback to the state the entity is in appends nothing and answers its newest entry', async () => {
    const tm = await newThreatModel();
    const changed = await write(app, `/threat_models/${tm}`, { method: 'PUT', who: alice, json: { name: 'Newest' } });
    const [newest] = await trail(tm, changed.position);
    const before = await threatModelEventCount(app, tm);
    const { body } = await rollback(tm, newest!.id as string, 200);
    expect(await threatModelEventCount(app, tm)).toBe(before);
    expect(body.audit_entry).toEqual(newest);
    expect(body.restored_entity).toMatchObject({ id: tm, name: 'Newest' });
  });

  it('a child rolled back to the state it is in appends nothing and answers its newest entry (no 500)', async () => {
    const tm = await newThreatModel();
    const threats = `/threat_models/${tm}/threats`;
    const id = ((await write(app, threats, { method: 'POST', who: bob, json: threatsSpec.valid })).body as Body).id as string;
    const changed = await write(app, `${threats}/${id}`, { method: 'PUT', who: bob, json: threatsSpec.replacement });
    const newest = (await trail(tm, changed.position)).find((e) => e.object_id === id)!;
    expect(newest.change_type).toBe('updated');
    const before = await threatModelEventCount(app, tm);
    const { body } = await rollback(tm, newest.id as string, 200);
    expect(await threatModelEventCount(app, tm)).toBe(before);
    expect(body.audit_entry).toEqual(newest);
    expect(body.restored_entity).toMatchObject({ id, name: threatsSpec.replacement.name });
  });

  it('an actor without a name is shown by email, in the trail and in a rollback\'s answer, as the threat model shows its owner', async () => {
    const { token } = app.runtime.services.tokens.issue({
      user_id: '00000000-0000-4000-8000-00000000e41e', provider: 'tmi', provider_id: 'erin@tmi.local', email: 'erin@tmi.local', email_verified: true,
      name: '  ', groups: [], is_admin: false, is_security_reviewer: false,
    });
    const erin: Who = { name: 'erin', token };
    const tm = ((await write(app, '/threat_models', { method: 'POST', who: erin, json: { name: 'Nameless' } })).body as { id: string; owner: Body }).id;
    const changed = await write(app, `/threat_models/${tm}`, { method: 'PUT', who: erin, json: { name: 'Renamed' } });
    const owner = (await get(`/threat_models/${tm}`, erin)).owner as Body;
    expect(owner.display_name).toBe('erin@tmi.local');
    const entries = await wholeTrail(app, erin, tm, changed.position);
    for (const e of entries) expect(e.actor, e.change_type as string).toEqual({ email: 'erin@tmi.local', provider: 'tmi', provider_id: 'erin@tmi.local', display_name: owner.display_name });
    const created = entries.find((e) => e.change_type === 'created')!;
    const { body } = await rollback(tm, created.id as string, 200, erin);
    expect(body.audit_entry.actor).toEqual(entries[0]!.actor);
  });

  it('a threat model rolled back to its deletion is deleted', async () => {
    const tm = await newThreatModel();
    await write(app, `/threat_models/${tm}`, { method: 'DELETE', who: alice });
    const restored = await write(app, `/threat_models/${tm}/restore`, { method: 'POST', who: alice });
    const deletion = (await trail(tm, restored.position)).find((e) => e.change_type === 'deleted')!;
    const { body } = await rollback(tm, deletion.id as string, 200);
    expect(body.restored_entity).toBeUndefined();
    expect(body.audit_entry.change_type).toBe('rolled_back');
    expect((await app.request(`/threat_models/${tm}`, { token: alice.token })).status).toBe(404);
  });

  it('only owners roll back: readers and writers 403, no access 403, unknown 404, a stale If-Match 409; nothing appended', async () => {
    const tm = await newThreatModel();
    const changed = await write(app, `/threat_models/${tm}`, { method: 'PUT', who: alice, json: { name: 'Guarded' } });
    const [, creation] = await trail(tm, changed.position);
    const other = await newThreatModel('Other');
    const before = await threatModelEventCount(app, tm);
    // A stale If-Match is refused like any command's (the contract lists no 409 here; the body is its Error).
    const stale = await app.request(`/threat_models/${tm}/audit_trail/${creation!.id}/rollback`, { method: 'POST', token: alice.token, headers: { 'if-match': '"1"' } });
    expect(stale.status).toBe(409);
    assertErrorBody(await json(stale));
    await rollback(tm, creation!.id as string, 403, carol);
    await rollback(tm, creation!.id as string, 403, bob);
    await rollback(tm, creation!.id as string, 403, dave);
    await rollback(tm, '0190a000-0000-7000-8000-00000000dead', 404);
    await rollback('0190a000-0000-7000-8000-00000000dead', creation!.id as string, 404);
    // An entry of another threat model is not one of this one's.
    await rollback(other, creation!.id as string, 404);
    expect((await app.request(`/threat_models/${tm}/audit_trail/${creation!.id}/rollback`, { method: 'POST' })).status).toBe(401);
    expect(await threatModelEventCount(app, tm)).toBe(before);
    expect((await get(`/threat_models/${tm}`)).name).toBe('Guarded');
  });

  it('a diagram in a collaboration session refuses a rollback (409), as every REST write', async () => {
    const tm = await newThreatModel();
    const diagrams = `/threat_models/${tm}/diagrams`;
    const id = ((await write(app, diagrams, { method: 'POST', who: alice, json: { name: 'Context', type: 'DFD-1.0.0' } })).body as Body).id as string;
    const renamed = await write(app, `${diagrams}/${id}`, { method: 'PUT', who: alice, json: { name: 'Renamed', type: 'DFD-1.0.0', cells: [] } });
    const creation = (await trail(tm, renamed.position)).find((e) => e.object_id === id && e.change_type === 'created')!;
    expect((await app.request(`${diagrams}/${id}/collaborate`, { method: 'POST', token: alice.token })).status).toBe(201);
    const before = await threatModelEventCount(app, tm);
    // The contract lists no 409 for a rollback; the refusal carries its Error body all the same.
    const refused = await app.request(`/threat_models/${tm}/audit_trail/${creation.id}/rollback`, { method: 'POST', token: alice.token });
    expect(refused.status).toBe(409);
    assertErrorBody(await json(refused));
    expect(await threatModelEventCount(app, tm)).toBe(before);
    expect((await get(`${diagrams}/${id}`)).name).toBe('Renamed');
  });
});
