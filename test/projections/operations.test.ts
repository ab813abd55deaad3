import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projections } from '../../src/projections/registry.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';

const run = promisify(execFile);

const identity = (name: string, admin: boolean) => ({
  user_id: `00000000-0000-7000-8000-00000000000${admin ? 1 : 2}`,
  provider: 'tmi',
  provider_id: `${name}@tmi.local`,
  email: `${name}@tmi.local`,
  email_verified: true,
  name,
  groups: [],
  is_admin: admin,
  is_security_reviewer: false,
});

describe('projection operations', () => {
  let app: TestApp;
  let admin: string;
  let user: string;
  beforeAll(async () => {
    app = await startTestApp();
    admin = app.runtime.services.tokens.issue(identity('root', true)).token;
    user = app.runtime.services.tokens.issue(identity('alice', false)).token;
  });
  afterAll(async () => { await app?.stop(); });

  it('shows every projection with position and lag to administrators only', async () => {
    expect((await app.request('/admin/projections')).status).toBe(401);
    expect((await app.request('/admin/projections', { token: user })).status).toBe(403);
    const res = await app.request('/admin/projections', { token: admin });
    expect(res.status).toBe(200);
    const body = await json(res);
    const names = body.projections.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(['threat_models', 'threat_model_access', 'metadata']));
    for (const p of body.projections) {
      expect(p).toMatchObject({ version: expect.any(Number), position: expect.any(Number), lag_events: expect.any(Number), halted: false, dead_letters: 0 });
    }
    const letters = await app.request('/admin/projections/dead-letters?status=pending', { token: admin });
    expect(await json(letters)).toEqual({ dead_letters: [] });
    const missing = await app.request('/admin/projections/threat_models/dead-letters/999/retry', { method: 'POST', token: admin });
    expect(missing.status).toBe(404);
    const unknown = await app.request('/admin/projections/nope/dead-letters/1/skip', { method: 'POST', token: admin });
    expect(unknown.status).toBe(404);
  });

  it('exports projection gauges in /metrics', async () => {
    const text = await (await app.request('/metrics')).text();
    expect(text).toMatch(/tmi_projection_position\{projection="threat_models"\} \d+/);
    expect(text).toMatch(/tmi_projection_dead_letters\{projection="threat_models"\} 0/);
  });

  it('prints the same status through the CLI', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'projections', 'status', '--json'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: app.database.url, LOG_LEVEL: 'warn' },
    });
    const statuses = JSON.parse(stdout) as { name: string; halted: boolean }[];
    expect(statuses.map((s) => s.name)).toEqual(expect.arrayContaining(['threat_models', 'metadata']));
    const list = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'projections', 'dead-letters', 'list'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: app.database.url, LOG_LEVEL: 'warn' },
    });
    expect(list.stdout).toContain('(index)');
  });

  it('rebuilds the projections one at a time through the CLI, each swapped in', async () => {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'projections', 'rebuild', '--one-at-a-time'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: app.database.url, LOG_LEVEL: 'warn' },
    });
    // Each outcome's line is on stderr beside the progress bar.
    const swapped = `${stdout}\n${stderr}`.split('\n').filter((l) => / swapped in at position /.test(l)).map((l) => l.split(':')[0]!.trim());
    expect(swapped.sort()).toEqual(projections.map((p) => p.name).sort());
  }, 120_000);
});
