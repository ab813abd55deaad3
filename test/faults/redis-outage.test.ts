import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { needsRedisServer } from '../helpers/binaries.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.js';
import { accepted, cleanUnavailable, CommandLoad } from './command-load.js';
import { awaitCatchUp } from './caught-up.js';
import { lostCommands } from './created.js';
import { spawnService, type ServiceProcess } from './service-process.js';

/** How long Redis stays down: 30 s by default (a long outage: every wake-up of it lost), TMI_FAULT_REDIS_OUTAGE_MS for another length. */
const OUTAGE_MS = Number(process.env.TMI_FAULT_REDIS_OUTAGE_MS ?? 30_000);
const redisServer = needsRedisServer();

/** The service's Redis (one of the test's own) stopped for a while under a steady command load. */
describe.skipIf(redisServer.skip)(redisServer.title(`Redis stopped for ${OUTAGE_MS} ms under load`), () => {
  let redis: OwnRedis | undefined;
  let database: TestDatabase;
  let service: ServiceProcess | undefined;
  afterAll(async () => {
    if (service?.child.exitCode === null) service.child.kill('SIGKILL');
    await redis?.stop();
    await database?.drop();
  });

  it('commands succeed or get a clean 503, authenticated reads go on, projections catch up afterwards, no event is lost', async () => {
    redis = await startOwnRedis();
    const own = redis;
    database = await createTestDatabase();
    // Short read-your-writes waits: with Redis down no wake-up reaches the projectors, and each command would wait them out.
    service = await spawnService('serve', {
      databaseUrl: database.url, redisUrl: own.url, redisPrefix: `rdo${randomBytes(4).toString('hex')}`,
      extra: { TMI_READ_YOUR_WRITES_TIMEOUT_MS: '300' },
    });
    const svc = service;
    const token = svc.token('redis-alice');
    const load = new CommandLoad(() => ({ url: svc.url, token }), 4);
    await load.more(12);

    // Authenticated reads: the list and one model made before the outage (answered 200 now, so any other answer later is the outage's).
    const before = load.attempts.find((a) => a.status === 201)!;
    const read = async (path: string) => (await fetch(`${svc.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).status;
    const paths = ['/threat_models', `/threat_models/${before.body!.id}`];
    for (const path of paths) expect(await read(path), path).toBe(200);

    await own.stop();
    const downAt = Date.now();
    const reads: { path: string; status: number }[] = [];
    while (Date.now() - downAt < OUTAGE_MS) {
      for (const path of paths) reads.push({ path, status: await read(path) });
      await new Promise((r) => setTimeout(r, 250));
    }
    const duringOutage = load.attempts.filter((a) => a.startedAt > downAt).length;
    await own.start();
    const upAt = Date.now();
    await eventually('commands made after Redis returned are accepted', () => load.attempts.filter((a) => a.startedAt > upAt && accepted(a)).length >= 8, { deadlineMs: 60_000 });
    const attempts = await load.stop();

    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((r) => r.status !== 200), 'authenticated reads during the outage').toEqual([]);
    expect(duringOutage).toBeGreaterThan(0);
    expect(attempts.filter((a) => !accepted(a) && !cleanUnavailable(a)), 'neither accepted nor a clean 503').toEqual([]);
    const ok = attempts.filter(accepted);
    expect(await lostCommands(database.pool, ok)).toEqual([]);
    await awaitCatchUp(database.pool, 'the projections have caught up with every event');
    // And they show every accepted model, those made while Redis was down included.
    const { rows } = await database.pool.query<{ id: string }>('select id from threat_models');
    const projected = new Set(rows.map((r) => r.id));
    expect(ok.filter((a) => !projected.has(a.body!.id!)).map((a) => a.name)).toEqual([]);
    expect(svc.child.exitCode).toBeNull();
  }, 180_000);
});
