import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { transientDatabaseError } from '../../src/infra/database-errors.js';
import { RedisUnavailableError, guardRedis } from '../../src/infra/redis-errors.js';
import { assertConforms, assertErrorBody } from '../contract/contract.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { CLIENT_CALLBACK, pkcePair } from '../helpers/login.js';
import { freePort } from '../helpers/ports.js';

/**
 * A Redis failure is Redis's, never "the database is unavailable": Node reports a refused
 * connection as ECONNREFUSED whichever server refused it, so the service classifies Redis
 * errors where it calls Redis.
 */
describe('Redis errors are not database errors', () => {
  let closedPort: number;
  beforeAll(async () => { closedPort = await freePort(); });

  it('a connection Redis refuses (ECONNREFUSED) becomes a RedisUnavailableError, which the database classification does not claim', async () => {
    // BullMQ waiting for a connection that gives up rejects with the socket's own error.
    const queueOn = () => {
      const connection = new Redis({ host: '127.0.0.1', port: closedPort, retryStrategy: () => null, maxRetriesPerRequest: null });
      connection.on('error', () => {});
      const queue = new Queue('redis-errors-test', { connection });
      queue.on('error', () => {});
      return { queue, close: async () => { await queue.close().catch(() => {}); connection.disconnect(); } };
    };
    const first = queueOn();
    const second = queueOn();
    try {
      const raw = await first.queue.waitUntilReady().then(() => null, (err: unknown) => err);
      // The very error the database classification would take for PostgreSQL's.
      expect(raw).toMatchObject({ code: 'ECONNREFUSED' });
      expect(transientDatabaseError(raw)).toBe('unavailable');

      const guarded = await guardRedis(() => second.queue.waitUntilReady()).then(() => null, (err: unknown) => err);
      expect(guarded).toBeInstanceOf(RedisUnavailableError);
      expect((guarded as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
      expect(transientDatabaseError(guarded)).toBeNull();
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('a command Redis answers with an error of its own (a bug, not an outage) is passed on unchanged', async () => {
    const client = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
    const key = `redis-errors-test:${Math.random()}`;
    try {
      await client.set(key, 'text');
      const err = await guardRedis(() => client.lpush(key, 'x')).then(() => null, (e: unknown) => e);
      expect((err as Error).message).toMatch(/^WRONGTYPE/);
      expect(err).not.toBeInstanceOf(RedisUnavailableError);
    } finally {
      await client.del(key);
      client.disconnect();
    }
  });

  describe('over HTTP, with nothing listening at REDIS_URL', () => {
    let app: TestApp;
    beforeAll(async () => {
      // No projections: their BullMQ worker would only retry a Redis that is not there.
      app = await startTestApp({ overrides: { redis: { url: `redis://127.0.0.1:${closedPort}` }, server: { run_projections: false } } });
    });
    afterAll(async () => { await app?.stop(); });

    it('a login, which needs Redis for its OAuth state, answers 503 saying the queue and cache are unavailable, not the database', async () => {
      const query = new URLSearchParams({ idp: 'tmi', login_hint: 'no-redis', client_callback: CLIENT_CALLBACK, state: 'state-1', scope: 'openid', code_challenge: pkcePair().challenge, code_challenge_method: 'S256' });
      const res = await app.request(`/oauth2/authorize?${query}`, { redirect: 'manual' });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      const body = await json(res);
      assertErrorBody(body);
      assertConforms('GET', '/oauth2/authorize', 503, body);
      expect(body.error).toBe('service_unavailable');
      expect(body.error_description).toMatch(/queue and cache service \(Redis\) is unavailable/);
      expect(body.error_description).not.toMatch(/database/);
    });
  });
});
