import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackgroundRebuilds } from '../../src/projections/background-rebuild.js';
import type { Projection } from '../../src/projections/projection.js';
import { ProjectionRebuild, RebuildRefusedError, rollbackProjection } from '../../src/projections/rebuild.js';
import { projectionNamed, projections } from '../../src/projections/registry.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { tableDigest } from '../../src/projections/table-digest.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signIn, type Who } from '../threat-models/helpers.js';

const silent = pino({ level: 'silent' });

/**
 * Writes and reads over HTTP without a pause until stopped: each write is a threat created and
 * then renamed, each followed by a read-your-writes read (X-Min-Position) that must show it.
 * Any failed request or stale read is counted with what it saw.
 */
function traffic(app: TestApp, who: Who, threatModelId: string) {
  let stopping = false;
  const failures: string[] = [];
  let writes = 0;
  let reads = 0;
  const expectOk = async (label: string, res: Response, expected?: (body: Record<string, unknown>) => boolean) => {
    const text = await res.text();
    if (res.status >= 400) failures.push(`${label}: ${res.status} ${text}`);
    else if (expected && !expected(JSON.parse(text) as Record<string, unknown>)) failures.push(`${label}: stale ${text.slice(0, 200)}`);
    return res.status < 400 ? JSON.parse(text) as Record<string, unknown> : null;
  };
  const base = `/threat_models/${threatModelId}/threats`;
  const loop = async (worker: number) => {
    for (let i = 0; !stopping; i++) {
      const name = `w${worker}-${i}`;
      const created = await app.request(base, { method: 'POST', token: who.token, json: { name, threat_type: ['Tampering'], severity: 'High' } });
      const at = created.headers.get('x-event-position');
      const body = await expectOk('create', created);
      writes++;
      if (!body || !at) continue;
      const id = body.id as string;
      await expectOk('read created', await app.request(`${base}/${id}`, { token: who.token, headers: { 'x-min-position': at } }), (b) => b.name === name);
      const renamed = await app.request(`${base}/${id}`, { method: 'PUT', token: who.token, json: { name: `${name}-renamed`, threat_type: [] } });
      const renamedAt = renamed.headers.get('x-event-position');
      await expectOk('rename', renamed);
      writes++;
      if (renamedAt) {
        await expectOk('read renamed', await app.request(`${base}/${id}`, { token: who.token, headers: { 'x-min-position': renamedAt } }), (b) => b.name === `${name}-renamed`);
      }
      await expectOk('list', await app.request(`${base}?name=${name}-renamed`, { token: who.token, headers: { 'x-min-position': renamedAt ?? at } }),
        (b) => JSON.stringify(b).includes(id));
      reads += 3;
    }
  };
  const running = Promise.all([0, 1, 2].map(loop));
  return {
    async stop() {
      stopping = true;
      await running;
      return { failures, writes, reads };
    },
  };
}

describe('projection rebuilds on a running service', () => {
  let app: TestApp;
  let alice: Who;
  let threatModelId: string;
  const pool = () => app.runtime.services.database.pool;
  const store = () => app.runtime.services.store;
  const checkpoint = async (name: string) =>
    (await pool().query<{ version: number; position: number; generation: number }>('select version, position, generation from projection_checkpoints where name = $1', [name])).rows[0]!;

  beforeAll(async () => {
    // A read-your-writes wait that times out during a swap would count as a stale read: give it room on a loaded machine.
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    alice = signIn(app, 'alice');
    const res = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'Rebuilt under load' } });
    expect(res.status).toBe(201);
    threatModelId = ((await res.json()) as { id: string }).id;
  });
  afterAll(async () => { await app?.stop(); });

  it('rebuilds every projection under concurrent writes and reads with no failed request and no stale read; the result equals a fresh build', async () => {
    const load = traffic(app, alice, threatModelId);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const swapped: string[] = [];
    for (const p of projections) {
      const { report, swap } = await new ProjectionRebuild(pool(), store(), p, { batchSize: 50 }).run();
      expect(report, p.name).toMatchObject({ ok: true, compared: true });
      swapped.push(swap.retired);
    }
    const { failures, writes, reads } = await load.stop();
    expect(failures).toEqual([]);
    expect(writes).toBeGreaterThan(10);
    expect(reads).toBeGreaterThan(10);
    expect(swapped).toContain('retired_threats_v1');

    // A fresh build from the first event, compared at one snapshot, matches what the swaps left serving.
    for (const name of ['threats', 'threat_models', 'threat_dashboard']) {
      const fresh = new ProjectionRebuild(pool(), store(), projectionNamed(name));
      await fresh.prepare();
      await fresh.build();
      expect(await fresh.verify(), name).toMatchObject({ ok: true, compared: true });
      await fresh.discard();
    }
  });

  it('a version bump is built in the background while reads keep answering, then swapped; rollback puts the old version back', async () => {
    const live = projectionNamed('threats');
    const bumped: Projection = { ...live, version: live.version + 1 };
    const before = await checkpoint('threats');
    // Code of the new version leaves the old version's tables alone until its own are swapped in.
    expect(await new ProjectionRunner(pool(), store(), silent).catchUp(bumped)).toMatchObject({ ran: false, applied: 0 });
    const load = traffic(app, alice, threatModelId);
    // Once swapped in, the new version's projector takes over (the service's own runs the old code, now superseded).
    let serving = true;
    let takenOver: Promise<void> = Promise.resolve();
    const newVersionWorker = new ProjectionRunner(pool(), store(), silent);
    const rebuilds = startBackgroundRebuilds(pool(), store(), silent, [bumped], async () => {
      takenOver = (async () => {
        while (serving) {
          await newVersionWorker.catchUp(bumped);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
    });
    await rebuilds.settled;
    // The new version's process goes away again (it would build the rolled-back version anew otherwise).
    await rebuilds.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { failures, writes } = await load.stop();
    serving = false;
    await takenOver;
    expect(failures).toEqual([]);
    expect(writes).toBeGreaterThan(0);
    expect(await checkpoint('threats')).toMatchObject({ version: bumped.version, generation: before.generation });
    const retired = await pool().connect();
    try {
      const [now, old] = [await tableDigest(retired, 'threats'), await tableDigest(retired, 'threats', `retired_threats_v${live.version}`)];
      expect(now.rows).toBeGreaterThan(0);
      expect(now.rows).toBeGreaterThanOrEqual(old.rows);
    } finally {
      retired.release();
    }

    expect(await rollbackProjection(pool(), 'threats')).toMatchObject({ version: live.version, retired: `retired_threats_v${bumped.version}` });
    expect(await checkpoint('threats')).toMatchObject({ version: live.version, generation: before.generation + 1 });
    // The old version's code serves again, caught up by the service's projector: a write shows in a read-your-writes read.
    const created = await app.request(`/threat_models/${threatModelId}/threats`, { method: 'POST', token: alice.token, json: { name: 'after rollback', threat_type: [] } });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    const read = await app.request(`/threat_models/${threatModelId}/threats/${id}`, { token: alice.token, headers: { 'x-min-position': created.headers.get('x-event-position')! } });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { name: string }).name).toBe('after rollback');
  });

  it('a shadow that does not match the live version is refused, and the live tables stay as they were', async () => {
    const p = projectionNamed('threats');
    const rebuild = new ProjectionRebuild(pool(), store(), p);
    await rebuild.prepare();
    await rebuild.build();
    const client = await pool().connect();
    try {
      const liveBefore = await tableDigest(client, 'threats');
      await client.query(`update ${rebuild.schema}.threats set fields = jsonb_set(fields, '{name}', '"tampered"') where id = (select id from ${rebuild.schema}.threats limit 1)`);
      const refused = await rebuild.run().catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(RebuildRefusedError);
      const report = (refused as RebuildRefusedError).report;
      expect(report.problems.join()).toMatch(/threats: shadow has/);
      expect(report.tables[0]!.only_in_shadow!.join()).toMatch(/tampered/);
      expect(await tableDigest(client, 'threats')).toEqual(liveBefore);
      expect((await checkpoint('threats')).version).toBe(p.version);
    } finally {
      client.release();
      await rebuild.discard();
    }
  });
});
