import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiagramWriter } from '../../src/realtime/writer.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { operatorOn, sessionOn } from '../helpers/collaboration.js';
import { signIn, userEntry, type Who } from '../threat-models/helpers.js';

const node = (id: string, text = 'Node') => ({ id, shape: 'process', x: 10, y: 10, width: 80, height: 40, attrs: { text: { text } } });

/**
 * The diagram's writer against the real store, two of them on one diagram standing for two
 * instances' writers (no room between them, so nothing tells one of the other's appends but the
 * store): what a writer reads to keep its state after a lost race or an invalidation, when it
 * snapshots, and that an operation submitted as a batch ends is taken.
 */
describe('the diagram writer', () => {
  let app: TestApp;
  let owner: Who, writer: Who;
  beforeAll(async () => {
    app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } });
    owner = signIn(app, 'olga');
    writer = signIn(app, 'walt');
  });
  afterAll(async () => { await app?.stop(); });

  /** The threat model's access changed (ThreatModelAccessChanged): a reader added. */
  async function share(tm: string, who: Who) {
    const current = await json(await app.request(`/threat_models/${tm}`, { token: owner.token }));
    const patched = await app.request(`/threat_models/${tm}`, {
      method: 'PATCH', token: owner.token, headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/authorization', value: [...current.authorization, userEntry(who, 'reader')] }]),
    });
    expect(patched.status).toBe(200);
  }

  async function diagram() {
    const s = await sessionOn(app, owner, writer);
    const { caller, target, metadata } = operatorOn(app, writer, s);
    const writerOn = () => new DiagramWriter(app.runtime.services, s.tm, s.diagram);
    const add = (w: DiagramWriter, base: number, id = uuidv7()) =>
      w.operate(caller, target, { operation_id: uuidv7(), base_vector: base, cells: [{ id, operation: 'add', data: node(id) }] }, metadata);
    const update = (w: DiagramWriter, base: number, id: string, text: string) =>
      w.operate(caller, target, { operation_id: uuidv7(), base_vector: base, cells: [{ id, operation: 'update', data: node(id, text) }] }, metadata);
    const writerOp = (w: DiagramWriter, request: Parameters<DiagramWriter['operate']>[2]) => w.operate(caller, target, request, metadata);
    return { ...s, caller, target, metadata, writerOn, add, update, writerOp };
  }

  it('catches up after losing a race to another writer: the newer events only, no reload', async () => {
    const d = await diagram();
    const [a, b] = [d.writerOn(), d.writerOn()];
    expect((await d.add(a, 1)).sequence_number).toBe(2);
    const theirs = uuidv7();
    expect((await d.add(b, 2, theirs)).sequence_number).toBe(3);
    // a still holds version 2 (its client too): its append loses, it reads event 3 and decides again.
    expect((await d.add(a, 2)).sequence_number).toBe(4);
    expect(a.stats).toMatchObject({ loads: 1, racesLost: 1, threatModelReloads: 0, sessionReloads: 0 });
    expect(a.stats.catchUps).toBeGreaterThanOrEqual(1);
    // Its load folded the diagram's creation, its catch-up the other writer's event.
    expect(a.stats.eventsFolded).toBe(2);
    // What it caught up on is in its state: the other writer's cell is there to update.
    expect((await d.update(a, 4, theirs, 'changed')).sequence_number).toBe(5);
    expect(a.stats.loads).toBe(1);
  });

  it('reads the threat model again only when its access changed, the session only when it moved', async () => {
    const d = await diagram();
    const a = d.writerOn();
    expect((await d.add(a, 1)).sequence_number).toBe(2);
    await share(d.tm, signIn(app, 'rita'));
    // The append's condition on the access fails; the catch-up reads the threat model, not the diagram or the session.
    expect((await d.add(a, 2)).sequence_number).toBe(3);
    expect(a.stats).toMatchObject({ loads: 1, racesLost: 1, threatModelReloads: 1, sessionReloads: 0, eventsFolded: 1 });
  });

  it('catches up on any newer event it hears of before deciding, instead of attempting a doomed append', async () => {
    const d = await diagram();
    const [a, b] = [d.writerOn(), d.writerOn()];
    await d.add(a, 1);
    await d.add(b, 2);
    // a's room delivered the other instance's event: a knows it is behind without an append failing.
    a.observe('diagram', 3);
    expect((await d.add(a, 3)).sequence_number).toBe(4);
    expect(a.stats).toMatchObject({ loads: 1, catchUps: 1, racesLost: 0, eventsFolded: 2 });
    // A participant joined: not a change the append's condition refuses, but the session it holds is behind.
    const rita = signIn(app, 'rita');
    await share(d.tm, rita);
    expect((await app.request(`/threat_models/${d.tm}/diagrams/${d.diagram}/collaborate`, { method: 'POST', token: rita.token })).status).toBe(200);
    // As the hub's access check reads them: the threat model's access changed too, which the append's condition would refuse.
    const [parentVersion, sessionVersion] = await app.runtime.services.store.streamVersions([`threat_model-${d.tm}`, `collaboration-${d.diagram}`]);
    a.observe('threat_model', parentVersion!);
    a.observe('session', sessionVersion!);
    expect((await d.add(a, 4)).sequence_number).toBe(5);
    expect(a.stats).toMatchObject({ loads: 1, racesLost: 0, threatModelReloads: 1, sessionReloads: 1 });
    // Heard of a session change that names no version (an end or a removal on the feed): the versions are read, nothing is reloaded that did not move.
    a.invalidate();
    expect((await d.add(a, 5)).sequence_number).toBe(6);
    expect(a.stats).toMatchObject({ loads: 1, racesLost: 0, threatModelReloads: 1, sessionReloads: 1 });
  });

  it('decides a batch again, without its doomed append, when a newer event is heard of while it is decided', async () => {
    const d = await diagram();
    const [a, b] = [d.writerOn(), d.writerOn()];
    await d.add(a, 1);
    await d.add(b, 2);
    // A cell that is not there: refused, and its operation id looked up in the store (a resend's original?) before the batch commits.
    const refused = d.update(a, 2, uuidv7(), 'nowhere');
    const accepted = d.add(a, 2);
    // Runs once the batch waits on that lookup: the other writer's event heard of meanwhile, as a's room would deliver it.
    setImmediate(() => a.observe('diagram', 3));
    await expect(refused).rejects.toMatchObject({ reason: 'validation_failed' });
    expect((await accepted).sequence_number).toBe(4);
    expect(a.stats).toMatchObject({ loads: 1, racesLost: 0, redecided: 1 });
  });

  it('answers a refusal while another writer keeps appending, confirming it once instead of until the stream rests', async () => {
    const d = await diagram();
    const [a, b] = [d.writerOn(), d.writerOn()];
    await d.add(a, 1);
    // b holds the diagram already: each of its operations below is one append, quicker than a's confirmation (a lookup and a catch-up).
    await d.add(b, 2);
    const catchUpsBefore = a.stats.catchUps;
    let answered = false;
    // A cell that is not there: refused on what a holds, so confirmed against the streams' versions, which b keeps moving.
    const refusal = d.update(a, 2, uuidv7(), 'nowhere').then(() => null, (err: unknown) => err).finally(() => { answered = true; });
    // b appends one operation after another until a answered (bounded: a writer that confirms until the stream rests answers only once b stops).
    let head = 3;
    for (let n = 0; !answered && n < 300; n++) head = (await d.add(b, head)).sequence_number;
    expect(await refusal).toMatchObject({ reason: 'validation_failed' });
    // One confirmation: the state it read is the one the refusal is decided on again, and not confirmed a second time.
    expect(a.stats.catchUps - catchUpsBefore).toBe(1);
  });

  it('undoes in a session longer than its window from the window held, without reading the session\'s events from the store', { timeout: 60_000 }, async () => {
    const d = await diagram();
    const w = d.writerOn();
    // 300 operations in this session, each round on the head the round before left: the session now reaches beyond the window (256).
    let head = 1;
    for (let round = 0; round < 5; round++) {
      const base = head;
      head = Math.max(...(await Promise.all(Array.from({ length: 60 }, () => d.add(w, base)))).map((a) => a.sequence_number));
    }
    expect(head).toBe(301);
    const undone = await w.step(d.caller, d.target, 'undo', uuidv7(), d.metadata);
    expect(undone).toMatchObject({ sequence_number: 302, data: { history: { kind: 'undo', of: 301 } } });
    expect(w.stats.streamReads).toBe(0);
  });

  it('answers an operation id reused with other cells without confirming it against the streams', async () => {
    const d = await diagram();
    const a = d.writerOn();
    await d.add(a, 1);
    const catchUpsBefore = a.stats.catchUps;
    // One operation id twice in one batch, with other cells the second time: refused whatever the diagram holds, so nothing is read to confirm it.
    const operationId = uuidv7();
    const [x, y] = [uuidv7(), uuidv7()];
    const first = d.writerOp(a, { operation_id: operationId, base_vector: 2, cells: [{ id: x, operation: 'add', data: node(x) }] });
    const reused = d.writerOp(a, { operation_id: operationId, base_vector: 2, cells: [{ id: y, operation: 'add', data: node(y) }] });
    await expect(reused).rejects.toMatchObject({ name: 'CommandIdReusedError' });
    expect((await first).sequence_number).toBe(3);
    expect(a.stats.catchUps - catchUpsBefore).toBe(0);
  });

  it('catches up once on a version its source overstated, not before every batch', async () => {
    const d = await diagram();
    const a = d.writerOn();
    await d.add(a, 1);
    // Heard of a version the stream never reached (a read model's, say): the versions read settle it.
    a.observe('threat_model', 1_000);
    expect((await d.add(a, 2)).sequence_number).toBe(3);
    expect((await d.add(a, 3)).sequence_number).toBe(4);
    expect(a.stats).toMatchObject({ loads: 1, catchUps: 1, redecided: 0, threatModelReloads: 0 });
  });

  it('snapshots again at the next batch when a snapshot save failed', { timeout: 60_000 }, async () => {
    const d = await diagram();
    const w = d.writerOn();
    const { pool } = app.database;
    const stream = `diagram-${d.diagram}`;
    const { snapshots } = app.runtime.services.store;
    await pool.query(`create or replace function fail_snapshots() returns trigger language plpgsql as $$ begin raise exception 'snapshots are failing'; end $$`);
    await pool.query(`create trigger fail_snapshots before insert on snapshots for each row when (new.stream_id = '${stream}') execute function fail_snapshots()`);
    const failuresBefore = snapshots.stats.snapshotWriteFailures;
    try {
      // 200 operations at once: batches of 64, the last takes the stream past 200 events and its snapshot fails.
      await Promise.all(Array.from({ length: 200 }, () => d.add(w, 1)));
      await snapshots.idle();
    } finally {
      await pool.query(`drop trigger fail_snapshots on snapshots`);
    }
    expect(snapshots.stats.snapshotWriteFailures).toBeGreaterThan(failuresBefore);
    expect((await pool.query('select 1 from snapshots where stream_id = $1', [stream])).rowCount).toBe(0);
    // The next batch is due a snapshot still: none was taken.
    expect((await d.add(w, 201)).sequence_number).toBe(202);
    await snapshots.idle();
    const { rows } = await pool.query<{ version: number }>('select version from snapshots where stream_id = $1', [stream]);
    expect(rows.map((r) => r.version)).toEqual([202]);
  });

  it('takes an operation submitted just as its batch ends, at any point of the hand-over', async () => {
    const d = await diagram();
    const w = d.writerOn();
    const answered = <T>(p: Promise<T>, what: string) => Promise.race([p, new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`${what} was never taken`)), 30_000))]);
    let head = 1;
    // The next operation submitted from the previous one's answer, after 0 to 12 further turns of the microtask queue:
    // one of them lands between the writer finding its queue empty and it no longer counting as running.
    for (let turns = 0; turns <= 12; turns++) {
      const next = await answered(d.add(w, head).then(async () => {
        for (let i = 0; i < turns; i++) await Promise.resolve();
        return d.add(w, head + 1);
      }), `the operation after ${turns} turns`);
      head = next.sequence_number;
    }
    expect(head).toBe(1 + 2 * 13);
  });
});
