import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/infra/database.js';
import { verifyChain } from '../../src/events/verify-chain.js';
import { needsPostgresBinaries } from '../helpers/binaries.js';
import { eventually } from '../helpers/eventually.js';
import { startOwnPostgres, type OwnPostgres } from '../helpers/own-postgres.js';
import { accepted, cleanUnavailable, CommandLoad } from './command-load.js';
import { lostCommands } from './created.js';
import { spawnService, type ServiceProcess } from './service-process.js';

const binaries = await needsPostgresBinaries();

const readyz = async (url: string) => {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: await res.json() as { status: string } };
};

/**
 * The service's PostgreSQL (a cluster of the test's own) stopped and started again under a
 * steady command load, the service process left running throughout.
 */
describe.skipIf(binaries.skip)(binaries.title('PostgreSQL restarted under load'), () => {
  let cluster: OwnPostgres | undefined;
  let service: ServiceProcess | undefined;
  afterAll(async () => {
    if (service?.child.exitCode === null) service.child.kill('SIGKILL');
    await cluster?.destroy();
  });

  it('answers 503 with the error body while it is down, is not ready, recovers by itself, and leaves no partial command', async () => {
    cluster = await startOwnPostgres();
    const pg = cluster;
    service = await spawnService('serve', { databaseUrl: pg.url, redisUrl: inject('redisUrl'), redisPrefix: `pgr${randomBytes(4).toString('hex')}` });
    const svc = service;
    expect((await readyz(svc.url)).status).toBe(200);
    const token = svc.token('restart-alice');
    const load = new CommandLoad(() => ({ url: svc.url, token }), 4);
    await load.more(12);

    await pg.stop();
    const downAt = Date.now();
    const whileDown = await readyz(svc.url).catch((err: unknown) => { throw new Error(`the service did not answer: ${String(err)}\n${svc.output().slice(-4000)}`); });
    expect(whileDown).toMatchObject({ status: 503, body: { status: 'not_ready' } });
    await eventually('commands are refused while PostgreSQL is down', () => load.attempts.filter((a) => a.startedAt > downAt && a.status === 503).length >= 4);
    await pg.start();
    const upAt = Date.now();
    await eventually('/readyz says ready again', async () => (await readyz(svc.url)).status === 200, { deadlineMs: 60_000 });
    await eventually('commands are accepted again', () => load.attempts.filter((a) => a.startedAt > upAt && accepted(a)).length >= 8, { deadlineMs: 60_000 });
    const attempts = await load.stop();
    // The process never restarted.
    expect(svc.child.exitCode).toBeNull();

    // Every answer was a commit or a clean refusal; no request was cut.
    expect(attempts.filter((a) => !accepted(a) && !cleanUnavailable(a)), 'neither accepted nor a clean 503').toEqual([]);
    // A refused command, sent again with its key, is accepted (or replayed, had it committed after all) — once.
    const refused = attempts.filter(cleanUnavailable);
    expect(refused.length).toBeGreaterThan(0);
    const retried = await Promise.all(refused.map((a) => load.resend(a)));
    expect(retried.filter((a) => !accepted(a))).toEqual([]);

    const db = openDatabase(pg.url, { max: 2 });
    try {
      const ok = [...attempts.filter(accepted), ...retried];
      expect(await lostCommands(db.pool, ok)).toEqual([]);
      // Each command exactly once, and whole: every event a recorded command names is stored.
      const { rows: [counts] } = await db.pool.query<{ created: number; names: number }>(
        "select count(*)::int as created, count(distinct data->>'name')::int as names from events where type = 'ThreatModelCreated'");
      expect(counts).toEqual({ created: new Set(ok.map((a) => a.name)).size, names: new Set(ok.map((a) => a.name)).size });
      const { rows: partial } = await db.pool.query(
        'select command_id from command_results c where exists (select 1 from unnest(c.event_ids) e(id) where not exists (select 1 from events where event_id = e.id))');
      expect(partial).toEqual([]);
      expect(await verifyChain(db.pool)).toMatchObject({ ok: true, broken_links: 0 });
    } finally {
      await db.close();
    }

    expect(await new Promise((resolve) => { svc.child.once('exit', resolve); svc.child.kill('SIGTERM'); })).toBe(0);
  }, 180_000);
});
