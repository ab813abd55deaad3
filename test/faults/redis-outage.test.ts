import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { needsRedisServer } from '../helpers/binaries.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { startOwnRedis, type OwnRedis } from '../helpers/redis-server.js';
import { connectTo, sessionOn } from '../helpers/collaboration.js';
import { childStreamId } from '../../src/commands/child-resources/definition.js';
import { accepted, cleanUnavailable, CommandLoad } from './command-load.js';
import { awaitCatchUp } from './caught-up.js';
import { lostCommands } from './created.js';
import { DiagramEdits, fannedOut } from './diagram-edits.js';
import { spawnService, type ServiceProcess } from './service-process.js';

/** How long Redis stays down: 30 s by default (a long outage: every wake-up of it lost), TMI_FAULT_REDIS_OUTAGE_MS for another length. */
const OUTAGE_MS = Number(process.env.TMI_FAULT_REDIS_OUTAGE_MS ?? 30_000);
const redisServer = needsRedisServer();

/**
 * The service's Redis (one of the test's own) stopped for a while under a steady command load.
 * A second instance on the same database and Redis holds a collaborator editing a diagram; the
 * first holds another collaborator watching it, connected across the outage. As documented
 * (docs/architecture.md, "Several instances"), with Redis down the edits reach the watcher from
 * PostgreSQL (its room's head check), and once Redis is back through Redis again; either way every
 * one of them, once, in sequence order.
 */
describe.skipIf(redisServer.skip)(redisServer.title(`Redis stopped for ${OUTAGE_MS} ms under load`), () => {
  let redis: OwnRedis | undefined;
  let database: TestDatabase;
  let service: ServiceProcess | undefined;
  let other: ServiceProcess | undefined;
  afterAll(async () => {
    for (const s of [service, other]) if (s?.child.exitCode === null) s.child.kill('SIGKILL');
    await redis?.stop();
    await database?.drop();
  });

  it('commands succeed or get a clean 503, authenticated reads go on, realtime edits keep arriving in order, projections catch up afterwards, no event is lost', async () => {
    redis = await startOwnRedis();
    const own = redis;
    database = await createTestDatabase();
    // Short read-your-writes waits: with Redis down no wake-up reaches the projectors, and each command would wait them out.
    const env = {
      databaseUrl: database.url, redisUrl: own.url, redisPrefix: `rdo${randomBytes(4).toString('hex')}`,
      extra: { TMI_READ_YOUR_WRITES_TIMEOUT_MS: '300' },
    };
    service = await spawnService('serve', env);
    const svc = service;
    // One prefix: the two instances share the diagrams' channels.
    other = await spawnService('serve', env);

    // Joined before the outage: a ticket is kept in Redis, and the sockets must outlive it.
    const host = { name: 'redis-olga', token: svc.token('redis-olga') };
    const session = await sessionOn(svc, host, { name: 'redis-walt', token: svc.token('redis-walt') });
    const watcher = await connectTo(svc, host, session);
    const editor = await connectTo(other, { name: 'redis-walt', token: other.token('redis-walt') }, session);
    let socketsClosed = false;
    void Promise.race([watcher.closed, editor.closed]).then(() => { socketsClosed = true; });
    const edits = new DiagramEdits(editor, 1, 1_000);
    await eventually('an edit on the other instance reaches the watcher through Redis', async () => await fannedOut(svc.url) > 0, { deadlineMs: 15_000 });
    const byRedisBefore = await fannedOut(svc.url);
    const delivered = () => watcher.all('diagram_operation_event').map((m) => m.sequence_number as number);

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
    // Still down: what the editor made by now reaches the watcher all the same, and none of it by the feed.
    const madeWhileDown = edits.last;
    await eventually('the edits made while Redis is down reach the watcher from PostgreSQL', () => delivered().includes(madeWhileDown), { deadlineMs: 15_000 });
    const byRedisWhileDown = await fannedOut(svc.url) - byRedisBefore;
    await own.start();
    const upAt = Date.now();
    await eventually('edits reach the watcher through Redis again', async () => await fannedOut(svc.url) > byRedisBefore + byRedisWhileDown, { deadlineMs: 30_000 });
    await eventually('commands made after Redis returned are accepted', () => load.attempts.filter((a) => a.startedAt > upAt && accepted(a)).length >= 8, { deadlineMs: 60_000 });
    const attempts = await load.stop();
    const made = await edits.stop();
    await eventually('the watcher has every edit', () => delivered().includes(made.at(-1)!.sequence_number), { deadlineMs: 15_000 });
    const { rows: [head] } = await database.pool.query<{ v: number }>('select max(version)::int as v from events where stream_id = $1', [childStreamId('diagram', session.diagram)]);

    // The watcher has each of the diagram's events once, in sequence order, without a gap: the editor's, every one.
    expect(delivered()).toEqual(Array.from({ length: head!.v - 1 }, (_, i) => i + 2));
    expect(watcher.all('diagram_operation_event').map((m) => m.operation_id)).toEqual(made.map((e) => e.operation_id));
    expect(made.filter((e) => e.sentAt > downAt && e.sentAt < upAt).length, 'edits made while Redis was down').toBeGreaterThan(0);
    expect(byRedisWhileDown, 'edits that came by the feed while Redis was down').toBe(0);
    expect(socketsClosed, 'a collaboration socket closed').toBe(false);
    await watcher.close();
    await editor.close();

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
