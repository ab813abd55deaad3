import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertErrorBody } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { eventCount, signIn, userEntry, type Who } from './helpers.js';

/**
 * An Idempotency-Key is bound to the request it first came with (method, route and parameters,
 * body): the same request replays the first outcome, any other request with that key is refused
 * with 422 and appends nothing.
 */
describe('Idempotency-Key bound to its request', () => {
  let app: TestApp;
  let alice: Who, bob: Who;
  let first: string, second: string;
  let n = 0;
  const newKey = () => `key-${Date.now()}-${n++}`;

  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    alice = signIn(app, 'alice');
    bob = signIn(app, 'bob');
    const create = async (name: string) => {
      const res = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name, authorization: [userEntry(bob, 'writer')] } });
      expect(res.status).toBe(201);
      return (await json(res)).id as string;
    };
    first = await create('First');
    second = await create('Second');
  });
  afterAll(async () => { await app?.stop(); });

  const send = (method: string, path: string, key: string, body?: unknown, who: Who = alice) =>
    app.request(path, { method, token: who.token, headers: { 'idempotency-key': key }, ...(body === undefined ? {} : { json: body }) });

  async function refusedAsReused(res: Response) {
    expect(res.status).toBe(422);
    const body = await json(res);
    assertErrorBody(body);
    expect(body).toMatchObject({ error: 'unprocessable_entity', details: { code: 'IDEMPOTENCY_KEY_REUSED' } });
    expect(res.headers.get('idempotent-replayed')).toBeNull();
  }

  it('the same request with the same key replays body, ETag and Idempotent-Replayed', async () => {
    const key = newKey();
    const original = await send('PUT', `/threat_models/${first}`, key, { name: 'First, renamed' });
    expect(original.status).toBe(200);
    const events = await eventCount(app);
    const replay = await send('PUT', `/threat_models/${first}`, key, { name: 'First, renamed' });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.headers.get('etag')).toBe(original.headers.get('etag'));
    expect(replay.headers.get('x-event-position')).toBe(original.headers.get('x-event-position'));
    expect(await json(replay)).toEqual(await json(original));
    expect(await eventCount(app)).toBe(events);
  });

  it('the key sent again for another threat model is refused (422) and appends nothing', async () => {
    const key = newKey();
    expect((await send('PUT', `/threat_models/${first}`, key, { name: 'Only the first' })).status).toBe(200);
    const events = await eventCount(app);
    await refusedAsReused(await send('PUT', `/threat_models/${second}`, key, { name: 'Only the first' }));
    expect(await eventCount(app)).toBe(events);
    const untouched = await json(await app.request(`/threat_models/${second}`, { token: alice.token }));
    expect(untouched.name).toBe('Second');
  });

  it('the key sent again with another body on the same route is refused', async () => {
    const key = newKey();
    expect((await send('PUT', `/threat_models/${first}`, key, { name: 'Body one' })).status).toBe(200);
    const events = await eventCount(app);
    await refusedAsReused(await send('PUT', `/threat_models/${first}`, key, { name: 'Body two' }));
    expect(await eventCount(app)).toBe(events);
  });

  it('the key sent again on another route or resource is refused (422, never a 500) and appends nothing', async () => {
    const key = newKey();
    const created = await send('POST', '/threat_models', key, { name: 'Made once' });
    expect(created.status).toBe(201);
    const events = await eventCount(app);
    await refusedAsReused(await send('PUT', `/threat_models/${first}`, key, { name: 'Made once' }));
    await refusedAsReused(await send('PATCH', `/threat_models/${first}`, key, [{ op: 'replace', path: '/name', value: 'Made once' }]));
    await refusedAsReused(await send('POST', `/threat_models/${first}/metadata`, key, { key: 'k', value: 'v' }));
    await refusedAsReused(await send('PUT', `/threat_models/${first}/metadata/bulk`, key, [{ key: 'k', value: 'v' }]));
    await refusedAsReused(await send('DELETE', `/threat_models/${first}`, key));
    await refusedAsReused(await send('POST', `/threat_models/${first}/restore`, key));
    expect(await eventCount(app)).toBe(events);
    expect((await app.request(`/threat_models/${first}`, { token: alice.token })).status).toBe(200);

    // And the other way round: a key first used on a child route, then on the threat model.
    const metaKey = newKey();
    expect((await send('POST', `/threat_models/${second}/metadata`, metaKey, { key: 'team', value: 'a' })).status).toBe(201);
    await refusedAsReused(await send('POST', '/threat_models', metaKey, { name: 'Not a replay' }));
    await refusedAsReused(await send('PUT', `/threat_models/${second}/metadata/team`, metaKey, { value: 'a' }));
  });

  it('another user\'s identical key is an independent command', async () => {
    const key = newKey();
    expect((await send('PUT', `/threat_models/${first}`, key, { name: 'Alice was here' })).status).toBe(200);
    const events = await eventCount(app);
    const bobs = await send('PUT', `/threat_models/${second}`, key, { name: 'Bob was here' }, bob);
    expect(bobs.status).toBe(200);
    expect(bobs.headers.get('idempotent-replayed')).toBeNull();
    expect((await json(bobs)).name).toBe('Bob was here');
    expect(await eventCount(app)).toBeGreaterThan(events);
    // Bob's own resend replays his command, not Alice's.
    const again = await send('PUT', `/threat_models/${second}`, key, { name: 'Bob was here' }, bob);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await json(again)).name).toBe('Bob was here');
  });

  it('member order in the body does not matter: re-serialized JSON still replays', async () => {
    const key = newKey();
    const raw = (text: string) => app.request('/threat_models', {
      method: 'POST', token: alice.token, body: text, headers: { 'idempotency-key': key, 'content-type': 'application/json' },
    });
    const original = await raw('{"name":"Ordered","description":"d","metadata":[{"key":"a","value":"1"},{"key":"b","value":"2"}]}');
    expect(original.status).toBe(201);
    const events = await eventCount(app);
    const reordered = await raw('{ "metadata": [ {"value":"1", "key":"a"}, {"value":"2","key":"b"} ], "description": "d", "name": "Ordered" }');
    expect(reordered.status).toBe(201);
    expect(reordered.headers.get('idempotent-replayed')).toBe('true');
    expect((await json(reordered)).id).toBe((await json(original)).id);
    expect(await eventCount(app)).toBe(events);
    // Array order is meaning, not serialization: swapping the entries is another request.
    await refusedAsReused(await raw('{"name":"Ordered","description":"d","metadata":[{"key":"b","value":"2"},{"key":"a","value":"1"}]}'));
    expect(await eventCount(app)).toBe(events);
  });
});
