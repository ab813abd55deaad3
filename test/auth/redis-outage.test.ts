import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { needsRedisServer } from '../helpers/binaries.js';
import { eventually } from '../helpers/eventually.js';
import { CLIENT_CALLBACK, loginWithDevProvider, pkcePair } from '../helpers/login.js';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.js';

const newThreatModel = (name: string) => ({ name, threat_model_framework: 'STRIDE' });

const redisServer = needsRedisServer();

describe.skipIf(redisServer.skip)(redisServer.title('Redis down: two instances on one database, each with the same (test-owned) Redis'), () => {
  let redis: OwnRedis;
  let a: TestApp;
  let b: TestApp;
  let committed: (status: number) => void;

  beforeAll(async () => {
    redis = await startOwnRedis();
    // One issuer for both (as behind one load balancer); short read-your-writes waits, since with
    // Redis down the projectors (BullMQ on Redis) do not run and every command waits them out.
    const overrides = { redis: { url: redis.url }, server: { read_your_writes_timeout_ms: 300 }, auth: { jwt: { issuer: 'http://tmi.test' } } };
    // Committed: 201 when the read tables already show it, 202 when they do not yet (as while the projectors are stopped).
    committed = (status: number) => expect([201, 202]).toContain(status);
    a = await startTestApp({ overrides });
    b = await startTestApp({ overrides, database: a.database });
  });
  /** Both instances have reconnected (BullMQ's worker closes cleanly only once its connection is back). */
  const reconnected = () => eventually('both instances reconnected to Redis', async () =>
    [a, b].every((app) => app.runtime.services.redis?.status === 'ready'));

  afterAll(async () => {
    // Should a test have failed while Redis was down.
    await redis?.start().then(reconnected).catch(() => {});
    await b?.stop();
    await a?.stop();
    await redis?.stop();
  });

  const status = async (app: TestApp, token: string, path = '/me') => (await app.request(path, { token })).status;

  it('serves authenticated reads and commands while Redis is down, and a logout made then stays refused everywhere', async () => {
    const alice = await loginWithDevProvider(a, 'outage-alice');
    const bob = await loginWithDevProvider(a, 'outage-bob');
    expect(await status(a, alice.access_token)).toBe(200);
    expect(await status(b, bob.access_token)).toBe(200);

    await redis.stop();
    let modelId: string;
    try {
      modelId = await duringTheOutage(alice.access_token, bob.access_token);
      // Sessions go on: a refresh needs only the token family's stream.
      const refreshed = await b.request('/oauth2/refresh', { method: 'POST', json: { refresh_token: alice.refresh_token } });
      expect(refreshed.status).toBe(200);
      expect(await status(a, (await json(refreshed)).access_token)).toBe(200);
    } finally {
      await redis.start();
      await reconnected();
    }

    // Back up: the revocation still holds (it never lived in Redis), and everyone else is still signed in.
    expect(await status(a, bob.access_token)).toBe(401);
    expect(await status(b, bob.access_token)).toBe(401);
    expect(await status(b, alice.access_token)).toBe(200);
    const after = await b.request('/threat_models', { method: 'POST', token: alice.access_token, json: newThreatModel('made after Redis came back') });
    committed(after.status);
    // The projections, driven by BullMQ on Redis, catch up with the command made during the outage.
    await eventually('the threat model made during the outage is readable', async () => (await b.request(`/threat_models/${modelId}`, { token: alice.access_token })).status === 200);
  });

  /** Returns the id of the threat model created during the outage. */
  async function duringTheOutage(alice: string, bob: string): Promise<string> {
    // Reads, on both instances (the rate limiter's Redis store is skipped, the revocation check needs no Redis).
    expect(await status(a, alice)).toBe(200);
    expect(await status(b, alice)).toBe(200);
    expect(await status(b, alice, '/threat_models')).toBe(200);
    // A command: committed to PostgreSQL; its wake-up is lost and the read-your-writes wait gives up, but it succeeds
    // (the projections run on BullMQ, so the new model is readable only once Redis is back).
    const created = await a.request('/threat_models', { method: 'POST', token: alice, json: newThreatModel('made while Redis was down') });
    committed(created.status);
    const model = await json(created);

    // Logout during the outage: refused at once where it happened, and on the other instance once it has heard.
    expect((await a.request('/me/logout', { method: 'POST', token: bob })).status).toBe(204);
    expect(await status(a, bob)).toBe(401);
    await eventually('instance B refuses the token logged out on A while Redis is down', async () => await status(b, bob) === 401);
    expect(await status(b, bob, '/threat_models')).toBe(401);

    // What must be shared and short-lived (here a login's OAuth state) is unavailable: a clean 503, not a 500.
    const query = new URLSearchParams({ idp: 'tmi', login_hint: 'outage-erin', client_callback: CLIENT_CALLBACK, state: 'state-1', scope: 'openid', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
    const authorize = await a.request(`/oauth2/authorize?${query}`, { redirect: 'manual' });
    expect(authorize.status).toBe(503);
    expect(await json(authorize)).toMatchObject({ error: 'service_unavailable' });
    return model.id;
  }

  it('a token revoked on instance A is refused on instance B, also when B has lost its notification connection', async () => {
    const carol = await loginWithDevProvider(a, 'outage-carol');
    const dave = await loginWithDevProvider(a, 'outage-dave');
    expect(await status(b, carol.access_token)).toBe(200);
    expect(await status(b, dave.access_token)).toBe(200);

    // RFC 7009 revocation on A, heard by B through the notification channel (or the poll).
    expect((await a.request('/oauth2/revoke', { method: 'POST', token: carol.access_token, json: { token: carol.access_token } })).status).toBe(200);
    expect(await status(a, carol.access_token)).toBe(401);
    await eventually('instance B refuses the token revoked on A', async () => await status(b, carol.access_token) === 401);

    // Cut every revocation listener of this database: B must still learn of the next logout (the poll is the safety net).
    const { rowCount } = await a.runtime.services.database.pool.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = 'tmi-es-revocations'");
    expect(rowCount).toBeGreaterThanOrEqual(2);
    expect((await a.request('/me/logout', { method: 'POST', token: dave.access_token })).status).toBe(204);
    await eventually('instance B refuses the token logged out on A without its listener', async () => await status(b, dave.access_token) === 401);
    expect(await status(b, carol.access_token)).toBe(401);
  });

  it('a frozen Redis (connections open, nothing answered) does not hold authenticated requests', async () => {
    const frank = await loginWithDevProvider(a, 'outage-frank');
    redis.freeze();
    try {
      // The signal only turns a hang into a failure; it asserts nothing about speed.
      const hung = { signal: AbortSignal.timeout(30_000) };
      expect((await a.request('/me', { token: frank.access_token, ...hung })).status).toBe(200);
      committed((await a.request('/threat_models', { method: 'POST', token: frank.access_token, json: newThreatModel('made while Redis was frozen'), ...hung })).status);
    } finally {
      redis.thaw();
    }
    await reconnected();
  });
});
