import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { signal, spawnService, type ServiceProcess } from '../faults/service-process.js';
import { eventually } from '../helpers/eventually.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { lockWaitersOn } from '../helpers/locks.js';

const metric = (text: string, series: string): number | null => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : null;
};

/** A probe's answer without what differs from one call to the next (latencies). */
const withoutLatency = (body: Record<string, unknown>) =>
  JSON.parse(JSON.stringify(body, (key, value: unknown) => (key === 'latency_ms' ? undefined : value))) as unknown;

/**
 * The documented deployment: API instances with `server.run_projections: false` and one `worker`.
 * What the worker records (its retention sweeps, its queues, its projectors) is seen only on the
 * worker's own listener, which answers the probes as `serve` does.
 */
describe('the worker\'s operations listener', () => {
  let database: TestDatabase;
  let api: TestApp;
  let worker: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase();
    const prefix = { redis: { prefix: `wops${randomBytes(4).toString('hex')}` } };
    api = await startTestApp({ database, overrides: { ...prefix, server: { run_projections: false } } });
    worker = await startTestApp({ database, role: 'worker', overrides: { ...prefix, retention: { interval_ms: 1000 } } });
  });
  afterAll(async () => {
    await api?.stop();
    await worker?.stop();
    await database?.drop();
  });

  it('exports in /metrics what the worker recorded: the retention sweep it ran, its queues, the projections', async () => {
    await database.pool.query(`insert into auth_ephemeral (key, value, expires_at) values ('oauth-state:gone', 'v', now() - interval '1 minute')`);
    // A run counts its removals sweep by sweep and its end after the last sweep.
    await expect.poll(async () => {
      const text = await (await worker.request('/metrics')).text();
      return [metric(text, 'tmi_retention_removed_total{kind="oauth_state"}'), metric(text, 'tmi_retention_last_run_timestamp_seconds')! > 0];
    }, { timeout: 30_000, interval: 250 }).toEqual([1, true]);
    const response = await worker.request('/metrics');
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(metric(text, 'tmi_retention_failures_total{sweep="auth_ephemeral"}')).toBe(0);
    expect(text).toMatch(/^tmi_queue_jobs\{queue="[^"]+",state="waiting"\} \d+$/m);
    expect(text).toMatch(/^tmi_projection_lag_events\{projection="threat_models"\} \d+$/m);
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
    // The API ran no sweep: it has nothing to say about one.
    expect(await (await api.request('/metrics')).text()).not.toContain('tmi_retention_removed_total');
  });

  it('answers /healthz and /readyz with serve\'s bodies', async () => {
    const [workerHealth, apiHealth] = await Promise.all([worker.request('/healthz'), api.request('/healthz')]);
    expect([workerHealth.status, await json(workerHealth)]).toEqual([200, { status: 'ok' }]);
    expect(await json(apiHealth)).toEqual({ status: 'ok' });
    const [workerReady, apiReady] = await Promise.all([worker.request('/readyz'), api.request('/readyz')]);
    expect(workerReady.status).toBe(200);
    const body = await json(workerReady);
    expect(body).toMatchObject({ status: 'ready', database: { status: 'healthy' }, redis: { status: 'healthy' }, projections: { halted: [] } });
    expect(withoutLatency(body)).toEqual(withoutLatency(await json(apiReady)));
  });

  it('serves no API', async () => {
    expect((await worker.request('/threat_models')).status).toBe(404);
    expect((await worker.request('/')).status).toBe(404);
  });

  it('is not opened with server.worker_metrics_port 0', async () => {
    const quiet = await startTestApp({ database, role: 'worker', overrides: { server: { worker_metrics_port: 0 } } });
    try {
      expect(quiet.runtime.operations).toBeNull();
      await expect(quiet.request('/healthz')).rejects.toThrow();
    } finally {
      await quiet.stop();
    }
  });

  it('closes when the worker stops: a probe in flight is answered with Connection: close, its connection ends', async () => {
    expect((await worker.request('/healthz')).status).toBe(200);
    // The probe waits at its read of projection_checkpoints until the close has begun.
    const holder = await database.pool.connect();
    let stopped: Promise<void>;
    const busy = await RawConnection.open(worker.url);
    try {
      await holder.query('begin');
      await holder.query('lock table projection_checkpoints in access exclusive mode');
      busy.send('GET', '/readyz', null);
      await eventually('the probe waits at the lock', async () => await lockWaitersOn(database.pool, 'projection_checkpoints') >= 1);
      stopped = worker.stop();
      await eventually('the listener is closed', () => worker.request('/healthz').then(() => false, () => true));
    } finally {
      await holder.query('rollback');
      holder.release();
    }
    const answered = await busy.next();
    expect(answered.status, answered.body).toBe(200);
    expect(answered.headers.connection).toBe('close');
    await busy.closed;
    await stopped;
    await expect(worker.request('/healthz')).rejects.toThrow();
  });
});

/** As an operator runs it: `tmi-es worker`, configured by environment variables (TMI_WORKER_METRICS_PORT). */
describe('a worker process', () => {
  let database: TestDatabase;
  let worker: ServiceProcess | undefined;
  afterAll(async () => {
    if (worker?.child.exitCode === null) worker.child.kill('SIGKILL');
    await database?.drop();
  });

  it('answers /readyz and /metrics on its metrics port, and closes it on SIGTERM', async () => {
    database = await createTestDatabase();
    worker = await spawnService('worker', { databaseUrl: database.url, redisUrl: inject('redisUrl'), redisPrefix: `wproc${randomBytes(4).toString('hex')}` });
    expect(worker.output()).toContain(`"metrics_port":${new URL(worker.url).port}`);
    const ready = await fetch(`${worker.url}/readyz`);
    expect([ready.status, (await json(ready)).status]).toEqual([200, 'ready']);
    const text = await (await fetch(`${worker.url}/metrics`)).text();
    expect(text).toMatch(/^tmi_queue_jobs\{queue="[^"]+",state="waiting"\} \d+$/m);
    expect(text).toContain('# TYPE tmi_projection_lag_seconds gauge');
    expect(await signal(worker, 'SIGTERM')).toBe(0);
    await expect(fetch(`${worker.url}/healthz`)).rejects.toThrow();
  });
});
