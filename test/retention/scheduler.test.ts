import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RETENTION_QUEUE, RETENTION_SCHEDULER } from '../../src/retention/runtime.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

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
    expect(schedulers.map((s) => [s.key, s.every])).toEqual([[RETENTION_SCHEDULER, 1000]]);

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

  it('is removed when an instance starts with retention disabled', async () => {
    const other = await startTestApp({ redis, database: app.database, overrides: { redis: { prefix: app.config.redis.prefix }, retention: { enabled: false } } });
    try {
      expect(await other.runtime.services.queues.queue(RETENTION_QUEUE).getJobSchedulers()).toEqual([]);
      expect(await (await other.request('/metrics')).text()).not.toContain('tmi_retention_removed_total');
    } finally {
      await other.stop();
    }
  });
});
