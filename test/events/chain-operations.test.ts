import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { pollUntil } from '../helpers/eventually.js';
import { signIn, type Who } from '../threat-models/helpers.js';

const run = promisify(execFile);

/** The chain's operator surface: GET /admin/events/verify and `tmi-es events verify|checkpoint`. */
describe('event chain operations', () => {
  let app: TestApp;
  let admin: Who;
  let reviewer: Who;
  let user: Who;
  beforeAll(async () => {
    app = await startTestApp();
    admin = signIn(app, 'root', { is_admin: true });
    reviewer = signIn(app, 'rita', { is_security_reviewer: true });
    user = signIn(app, 'alice');
    for (const name of ['one', 'two']) {
      const res = await app.request('/threat_models', { method: 'POST', token: user.token, json: { name } });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => { await app?.stop(); });

  const cli = async (...args: string[]): Promise<{ code: number; stdout: string }> => {
    try {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: app.database.url, LOG_LEVEL: 'warn' },
      });
      return { code: 0, stdout };
    } catch (err) {
      const failed = err as { code: number; stdout: string };
      return { code: failed.code, stdout: failed.stdout };
    }
  };

  it('answers administrators only, with the same 401/403 as the other /admin routes', async () => {
    const anonymous = await app.request('/admin/events/verify');
    expect(anonymous.status).toBe(401);
    expect(await json(anonymous)).toMatchObject({ error: expect.any(String), error_description: expect.any(String) });
    for (const who of [user, reviewer]) expect((await app.request('/admin/events/verify', { token: who.token })).status).toBe(403);
    const res = await app.request('/admin/events/verify', { token: admin.token });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      ok: true, events_checked: expect.any(Number), checkpoints_checked: expect.any(Number), checkpointed_through: expect.any(Number),
      checkpoint_digest: null, broken_links: 0, broken_checkpoints: 0, first_broken: null,
    });
  });

  it('checkpoints and verifies through the CLI, exiting 1 once an event was edited behind the service', async () => {
    const checkpoint = await cli('events', 'checkpoint');
    expect(checkpoint.code).toBe(0);
    expect(JSON.parse(checkpoint.stdout)).toMatchObject({ checkpoints_written: expect.any(Number) });
    const clean = await cli('events', 'verify');
    expect(clean.code).toBe(0);
    const cleanReport = JSON.parse(clean.stdout);
    expect(cleanReport).toMatchObject({ ok: true, first_broken: null });
    expect(cleanReport.checkpoints_checked).toBeGreaterThan(0);

    const { rows: [target] } = await app.database.pool.query(`select position, stream_id, version from events where type = 'ThreatModelCreated' order by position limit 1`);
    const client = await app.database.pool.connect();
    try {
      await client.query('begin');
      await client.query('set local session_replication_role = replica');
      await client.query(`update events set data = jsonb_set(data, '{name}', '"renamed"') where position = $1`, [target.position]);
      await client.query('commit');
    } finally {
      client.release();
    }
    const broken = { ok: false, first_broken: { position: Number(target.position), stream_id: target.stream_id, version: target.version, problem: 'hash_mismatch' } };
    const tampered = await cli('events', 'verify');
    expect(tampered.code).toBe(1);
    expect(JSON.parse(tampered.stdout)).toMatchObject(broken);
    const res = await app.request('/admin/events/verify', { token: admin.token });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject(broken);
  });
});

describe('event chain checkpoint scheduler', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { chain_checkpoint_ms: 200 } } });
  });
  afterAll(async () => { await app?.stop(); });

  it('seals events appended while the service runs, every server.chain_checkpoint_ms', async () => {
    const user = signIn(app, 'alice');
    const res = await app.request('/threat_models', { method: 'POST', token: user.token, json: { name: 'sealed' } });
    expect(res.status).toBe(201);
    const head = Number((await app.database.pool.query('select max(position) as p from events')).rows[0].p);
    const sealed = await pollUntil(async () =>
      Number((await app.database.pool.query('select coalesce(max(through_position), 0) as p from event_chain_checkpoints')).rows[0].p) >= head);
    expect(sealed).toBe(true);
  });
});
