import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { AUTH_EPHEMERAL_SCHEDULER, RETENTION_QUEUE, RETENTION_RUN, RETENTION_SCHEDULER } from '../../src/retention/runtime.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signIn } from '../threat-models/helpers.js';

const metric = (text: string, series: string): number | null => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : null;
};

describe.each([{ redis: true }, { redis: false }])('the retention scheduler (redis: $redis)', ({ redis }) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ redis, overrides: { retention: { interval_ms: 1000 } } });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('runs the sweep on its interval through BullMQ and counts it in /metrics', async () => {
    const pool = app.runtime.services.database.pool;
    await pool.query(`insert into auth_ephemeral (key, value, expires_at) values
      ('oauth-state:gone', 'v', now() - interval '1 minute'), ('oauth-code:gone', 'v', now() - interval '1 minute'),
      ('oauth-state:kept', 'v', now() + interval '10 minutes')`);
    const schedulers = await app.runtime.services.queues.queue(RETENTION_QUEUE).getJobSchedulers();
    expect(schedulers.map((s) => [s.key, s.every]).sort()).toEqual([[AUTH_EPHEMERAL_SCHEDULER, 1000], [RETENTION_SCHEDULER, 1000]]);

    await expect.poll(async () => (await pool.query(`select key from auth_ephemeral where key like 'oauth-%'`)).rows.map((r) => r.key),
      { timeout: 30_000, interval: 250 }).toEqual(['oauth-state:kept']);
    await expect.poll(async () => {
      const text = await (await app.request('/metrics')).text();
      return [metric(text, 'tmi_retention_removed_total{kind="oauth_state"}'), metric(text, 'tmi_retention_removed_total{kind="oauth_code"}')];
    }, { timeout: 10_000 }).toEqual([1, 1]);
    const text = await (await app.request('/metrics')).text();
    expect(metric(text, 'tmi_retention_removed_total{kind="idempotency_key"}')).toBe(0);
    expect(metric(text, 'tmi_retention_last_run_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(metric(text, 'tmi_retention_failures_total{sweep="auth_ephemeral"}')).toBe(0);
    expect(metric(text, 'tmi_retention_item_failures_total{sweep="collaboration_sessions"}')).toBe(0);
  });

  it('is removed when an instance starts with retention disabled, but for the expired auth state', async () => {
    const other = await startTestApp({ redis, database: app.database, overrides: { redis: { prefix: app.config.redis.prefix }, retention: { enabled: false } } });
    try {
      expect((await other.runtime.services.queues.queue(RETENTION_QUEUE).getJobSchedulers()).map((s) => s.key)).toEqual([AUTH_EPHEMERAL_SCHEDULER]);
      const text = await (await other.request('/metrics')).text();
      expect(metric(text, 'tmi_retention_removed_total{kind="oauth_state"}')).toBe(0);
      expect(text).not.toContain('tmi_retention_removed_total{kind="idempotency_key"}');
    } finally {
      await other.stop();
    }
  });

  it('with retention disabled still clears expired auth state (as the ephemeral store did before retention), and nothing else', async () => {
    const off = await startTestApp({ redis, overrides: { retention: { enabled: false, interval_ms: 1000 } } });
    try {
      const pool = off.runtime.services.database.pool;
      const alice = signIn(off, 'alice');
      const key = randomUUID();
      expect((await off.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Keyed' }, headers: { 'idempotency-key': key } })).status).toBe(201);
      await pool.query(`update command_results set created_at = now() - make_interval(secs => $2) where command_id like $1`, [`%:${key}`, off.config.retention.idempotency_seconds + 60]);
      await pool.query(`insert into auth_ephemeral (key, value, expires_at) values ('oauth-state:gone', 'v', now() - interval '1 minute'), ('oauth-state:kept', 'v', now() + interval '10 minutes')`);
      await expect.poll(async () => (await pool.query(`select key from auth_ephemeral where key like 'oauth-%'`)).rows.map((r) => r.key),
        { timeout: 30_000, interval: 250 }).toEqual(['oauth-state:kept']);
      // The sweep ran, and left the idempotency key past its window: retention is off.
      expect((await pool.query(`select 1 from command_results where command_id like $1`, [`%:${key}`])).rowCount).toBe(1);
      // Nor does the auth-state sweep count as a retention run: an alert on a stale run still fires.
      expect(metric(await (await off.request('/metrics')).text(), 'tmi_retention_last_run_timestamp_seconds')).toBe(0);
      // A retention run queued by an instance that has retention on is skipped here.
      const queue = off.runtime.services.queues.queue(RETENTION_QUEUE);
      const job = await queue.add(RETENTION_RUN, {});
      await expect.poll(async () => (await queue.getJob(job.id!))?.finishedOn ?? null, { timeout: 30_000, interval: 250 }).not.toBeNull();
      expect((await pool.query(`select 1 from command_results where command_id like $1`, [`%:${key}`])).rowCount).toBe(1);
    } finally {
      await off.stop();
    }
  });
});
