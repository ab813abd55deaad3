import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertErrorBody } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { loginWithDevProvider } from '../helpers/login.js';
import { signIn, userEntry, type Who } from '../threat-models/helpers.js';
import { allPages, ndjson, populatedThreatModel, type FeedEvent } from './fixtures.js';

const FEED = '/extensions/history/events';
const tmHistory = (id: string) => `/extensions/history/threat_models/${id}/events`;

describe('history feed (extension)', () => {
  let app: TestApp;
  let admin: Who;
  let reviewer: Who;
  let alice: Who;
  let bob: Who;
  let rachel: Who;
  let a: { id: string; children: Record<string, string> };
  let b: { id: string; children: Record<string, string> };
  const secrets: string[] = [];

  beforeAll(async () => {
    app = await startTestApp();
    admin = signIn(app, 'ada', { is_admin: true });
    reviewer = signIn(app, 'rita', { is_security_reviewer: true });
    alice = signIn(app, 'alice');
    bob = signIn(app, 'bob');
    rachel = signIn(app, 'rachel');
    a = await populatedThreatModel(app, alice.token, { authorization: [userEntry(rachel, 'reader')] });
    b = await populatedThreatModel(app, bob.token);

    // Credential material the store holds: a login's refresh token (and its rotation), a machine
    // client's secret, an access token revoked at logout.
    const login = await loginWithDevProvider(app, 'carol');
    const refreshed = await json(await app.request('/oauth2/token', { method: 'POST', json: { grant_type: 'refresh_token', refresh_token: login.refresh_token } }));
    const credential = await json(await app.request('/me/client_credentials', { method: 'POST', token: refreshed.access_token, json: { name: 'ci' } }));
    const grant = await app.request('/oauth2/token', { method: 'POST', json: { grant_type: 'client_credentials', client_id: credential.client_id, client_secret: credential.client_secret } });
    expect(grant.status).toBe(200);
    expect((await app.request('/me/logout', { method: 'POST', token: login.access_token })).status).toBeLessThan(300);
    secrets.push(login.refresh_token, refreshed.refresh_token, login.access_token, refreshed.access_token, credential.client_secret, (await json(grant)).access_token);
    const { rows } = await app.runtime.services.database.pool.query<{ v: string }>(
      `select value as v from events, jsonb_each_text(data) where key in ('token_hash', 'previous_hash', 'presented_hash', 'secret_hash', 'jti')`);
    expect(rows.length).toBeGreaterThanOrEqual(4);
    secrets.push(...rows.map((r) => r.v));
  });
  afterAll(async () => { await app?.stop(); });

  const allPositions = async () => (await app.runtime.services.database.pool.query<{ p: string }>('select position as p from events order by position')).rows.map((r) => Number(r.p));
  const streamsOf = async (id: string) => new Set((await app.runtime.services.database.pool.query<{ s: string }>(
    `select stream_id as s from events where version = 1 and data->>'threat_model_id' = $1`, [id])).rows.map((r) => r.s));

  it('pages through every event once, in global order, by its cursor', async () => {
    const events = await allPages(app, FEED, admin.token, 7);
    const positions = events.map((e) => e.position);
    expect(positions).toEqual(await allPositions());
    expect(new Set(positions).size).toBe(positions.length);
    // A page past the end is empty and keeps the cursor.
    const end = await json(await app.request(`${FEED}?after=${positions.at(-1)}`, { token: admin.token }));
    expect(end).toEqual({ events: [], next_after: positions.at(-1), has_more: false });
  });

  it('filters by stream, type, actor, time range and threat model', async () => {
    const everything = await allPages(app, FEED, admin.token, 1000);
    const check = async (query: string, expected: (e: FeedEvent) => boolean) => {
      const got = await allPages(app, `${FEED}?${query}`, admin.token, 5);
      expect(got.length, query).toBeGreaterThan(0);
      expect(got.map((e) => e.position), query).toEqual(everything.filter(expected).map((e) => e.position));
    };
    const threatStream = `threat-${a.children.threats}`;
    await check(`stream_id=${threatStream}`, (e) => e.stream_id === threatStream);
    await check('type=ThreatCreated&type=DiagramCreated', (e) => e.type === 'ThreatCreated' || e.type === 'DiagramCreated');
    const aliceId = everything.find((e) => e.type === 'ThreatModelCreated' && (e.data as { threat_model_id: string }).threat_model_id === a.id)!.metadata.actor.user_id!;
    await check(`actor=${aliceId}`, (e) => e.metadata.actor.user_id === aliceId);
    await check('actor=ALICE@tmi.local', (e) => e.metadata.actor.user_id === aliceId);
    const middle = everything[Math.floor(everything.length / 2)]!.created_at;
    const last = everything.at(-1)!.created_at;
    await check(`from=${middle}`, (e) => e.created_at >= middle);
    await check(`to=${encodeURIComponent(middle)}`, (e) => e.created_at < middle);
    await check(`from=${everything[0]!.created_at}&to=${encodeURIComponent(last)}&type=ThreatCreated`, (e) => e.created_at < last && e.type === 'ThreatCreated');
    const streamsOfA = await streamsOf(a.id);
    expect(streamsOfA.size).toBe(7);
    await check(`threat_model_id=${a.id.toUpperCase()}`, (e) => streamsOfA.has(e.stream_id));
    // The threat's metadata event names no threat model; it is found through its stream.
    const history = await allPages(app, tmHistory(a.id), rachel.token, 4);
    expect(history.map((e) => e.position)).toEqual(everything.filter((e) => streamsOfA.has(e.stream_id)).map((e) => e.position));
    expect(history.some((e) => e.type === 'MetadataEntriesSet' && e.stream_id === threatStream)).toBe(true);
    expect(new Set(history.map((e) => e.stream_id.split('-')[0]))).toEqual(new Set(['threat_model', 'threat', 'diagram', 'document', 'repository', 'note', 'asset']));
    // Filters combine with the threat model's history.
    const typed = await allPages(app, `${tmHistory(a.id)}?type=ThreatModelCreated`, rachel.token, 4);
    expect(typed.map((e) => e.type)).toEqual(['ThreatModelCreated']);
  });

  it('streams NDJSON with the same rows as the JSON pages', async () => {
    expect(await ndjson(app, FEED, admin.token)).toEqual(await allPages(app, FEED, admin.token, 3));
    expect(await ndjson(app, `${tmHistory(a.id)}?after=0`, rachel.token)).toEqual(await allPages(app, tmHistory(a.id), rachel.token, 2));
    const some = await ndjson(app, `${FEED}?type=ThreatCreated&limit=1`, admin.token);
    expect(some.map((e) => e.type)).toEqual(['ThreatCreated']);
    expect((await app.request(FEED, { token: admin.token, headers: { accept: 'text/html' } })).status).toBe(406);
  });

  it('serves the global feed to administrators and security reviewers only', async () => {
    expect((await app.request(FEED, { token: reviewer.token })).status).toBe(200);
    for (const who of [alice, rachel]) {
      const res = await app.request(`${FEED}?threat_model_id=${a.id}`, { token: who.token });
      expect(res.status).toBe(403);
      assertErrorBody(await json(res));
      const streamed = await app.request(FEED, { token: who.token, headers: { accept: 'application/x-ndjson' } });
      expect(streamed.status).toBe(403);
    }
    const anonymous = await app.request(FEED);
    expect(anonymous.status).toBe(401);
    assertErrorBody(await json(anonymous));
  });

  it('shows a threat model\'s history to its readers only', async () => {
    const denied = await app.request(tmHistory(b.id), { token: rachel.token });
    expect(denied.status).toBe(403);
    assertErrorBody(await json(denied));
    const unknown = await app.request(tmHistory('0190b000-0000-7000-8000-00000000dead'), { token: rachel.token });
    expect(unknown.status).toBe(404);
    assertErrorBody(await json(unknown));
    // Another threat model's stream asked for by id still yields only this one's events.
    const smuggled = await json(await app.request(`${tmHistory(a.id)}?stream_id=threat-${b.children.threats}`, { token: rachel.token }));
    expect(smuggled.events).toEqual([]);
    const streamsOfB = await streamsOf(b.id);
    expect((await ndjson(app, tmHistory(a.id), rachel.token)).filter((e) => streamsOfB.has(e.stream_id))).toEqual([]);
    // Gone with the threat model: a deleted one's history is 404 as the threat model is.
    expect((await app.request(`/threat_models/${b.id}`, { method: 'DELETE', token: bob.token })).status).toBe(204);
    expect((await app.request(tmHistory(b.id), { token: bob.token })).status).toBe(404);
  });

  it('never shows credential material', async () => {
    const text = JSON.stringify(await ndjson(app, FEED, admin.token));
    expect(text).toContain('RefreshTokenRotated');
    expect(text).toContain('ClientCredentialCreated');
    expect(text).toContain('AccessTokenRevoked');
    for (const secret of secrets) expect(text).not.toContain(secret);
    for (const part of secrets.filter((s) => s.includes('.')).map((s) => s.split('.').at(-1)!)) expect(text).not.toContain(part);
    expect(text).toContain('"token_hash":"[redacted]"');
  });

  it('refuses bad input with 400', async () => {
    for (const q of ['after=-1', 'after=x', 'limit=0', 'limit=1001', 'from=yesterday', 'to=2024-13-01T00:00:00Z', 'threat_model_id=nope', 'colour=red']) {
      const res = await app.request(`${FEED}?${q}`, { token: admin.token });
      expect(res.status, q).toBe(400);
      assertErrorBody(await json(res));
    }
    expect((await app.request(`${tmHistory(a.id)}?threat_model_id=${b.id}`, { token: rachel.token })).status).toBe(400);
  });

  it('is in the published OpenAPI document', async () => {
    const doc = await json(await app.request('/openapi.json'));
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/extensions/history'))).toEqual([FEED, '/extensions/history/threat_models/{threat_model_id}/events']);
    expect(Object.keys(doc.paths[FEED].get.responses['200'].content)).toEqual(['application/json', 'application/x-ndjson']);
  });
});
