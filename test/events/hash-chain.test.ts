import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, contentDigest, linkHash, linkHashSql } from '../../src/events/chain.js';
import { checkpointSettledEvents, writeCheckpoint } from '../../src/events/checkpoints.js';
import { EventStore } from '../../src/events/store.js';
import { verifyChain, type ChainVerification } from '../../src/events/verify-chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { testCatalog, testMetadata } from '../helpers/events.js';

const inc = (by: number) => ({ type: 'CounterIncremented', data: { by } });

/**
 * Tamper evidence: whatever is done to the events table behind the store's back (triggers off,
 * as an attacker with SQL access would), verify names the first broken link.
 */
describe('event hash chain', () => {
  let db: TestDatabase;
  let store: EventStore;
  beforeEach(async () => {
    db = await createTestDatabase();
    store = new EventStore(db.pool, testCatalog());
  });
  afterEach(async () => { await db?.drop(); });

  /** Streams written by every append path: the lean one, the general one (several streams, a command id), appendEach, a caller's transaction. */
  async function populate(): Promise<void> {
    await store.appendToStream({ stream_id: 'a', stream_type: 'counter', expected: 'no_stream', events: [inc(1), inc(2)] }, { metadata: testMetadata() });
    await store.appendToStream({ stream_id: 'a', stream_type: 'counter', expected: 2, events: [inc(3)] }, { metadata: testMetadata() });
    await store.appendToStreams([
      { stream_id: 'b', stream_type: 'counter', expected: 'no_stream', events: [inc(10), { type: 'CounterNamed', data: { name: 'bee' } }] },
      { stream_id: 'a', stream_type: 'counter', expected: 3, events: [inc(4)] },
    ], { metadata: testMetadata(), command_id: 'cmd-1', command_fingerprint: 'fp' });
    await store.appendEach({ stream_id: 'c', stream_type: 'counter', expected: 'no_stream', events: [
      { ...inc(1), metadata: testMetadata({ request_id: 'r1' }), command_id: 'k1' },
      { ...inc(2), metadata: testMetadata({ request_id: 'r2' }) },
      { ...inc(3), metadata: testMetadata({ request_id: 'r3' }), command_id: 'k3' },
    ] });
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await store.appendToStream({ stream_id: 'c', stream_type: 'counter', expected: 3, events: [inc(4)] }, { metadata: testMetadata(), client });
      await store.appendToStream({ stream_id: 'b', stream_type: 'counter', expected: 2, events: [inc(11), inc(12)] }, { metadata: testMetadata(), client });
      await client.query('commit');
    } finally {
      client.release();
    }
  }

  /** Runs SQL the way someone bypassing the store would: with the immutability trigger off. */
  async function tamper(...statements: string[]): Promise<void> {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query('set local session_replication_role = replica');
      for (const s of statements) await client.query(s);
      await client.query('commit');
    } finally {
      client.release();
    }
  }

  const positionOf = async (stream: string, version: number): Promise<number> =>
    Number((await db.pool.query('select position from events where stream_id = $1 and version = $2', [stream, version])).rows[0].position);

  const expectBroken = (result: ChainVerification, broken: Partial<NonNullable<ChainVerification['first_broken']>>) => {
    expect(result.ok).toBe(false);
    expect(result.first_broken).toMatchObject(broken);
  };

  it('verifies an untampered store written by every append path, before and after checkpoints', async () => {
    await populate();
    const before = await verifyChain(db.pool);
    expect(before).toMatchObject({ ok: true, events_checked: 12, checkpoints_checked: 0, broken_links: 0, broken_checkpoints: 0, first_broken: null });
    const written = await checkpointSettledEvents(db.pool);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ after_position: 0, event_count: 12 });
    // Nothing new: no empty checkpoint.
    expect(await writeCheckpoint(db.pool)).toBeNull();
    await store.appendToStream({ stream_id: 'a', stream_type: 'counter', expected: 4, events: [inc(5)] }, { metadata: testMetadata() });
    await checkpointSettledEvents(db.pool);
    expect(await verifyChain(db.pool)).toMatchObject({ ok: true, events_checked: 13, checkpoints_checked: 2, checkpointed_through: await positionOf('a', 5), checkpoint_digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('stores the hash the chain defines: sha256(previous ‖ position ‖ version ‖ created_at ‖ c)', async () => {
    await populate();
    const { rows } = await db.pool.query(`select e.*, ((extract(epoch from e.created_at) * 1000000)::bigint)::text as us from events e where stream_id = 'b' order by version`);
    let previous: Buffer | null = null;
    for (const r of rows) {
      const c = contentDigest({ event_id: r.event_id, stream_id: r.stream_id, stream_type: r.stream_type, type: r.type, schema_version: r.schema_version,
        data_json: canonicalJson(r.data), metadata_json: canonicalJson(r.metadata) });
      const expected = linkHash(previous, BigInt(r.position), r.version, BigInt(r.us), c);
      expect((r.hash as Buffer).toString('hex')).toBe(expected.toString('hex'));
      previous = expected;
    }
  });

  it('stores the chain\'s hash for every event of a batch: new and existing streams, several streams at once, appendEach, a caller\'s transaction', async () => {
    const incs = (from: number, n: number) => Array.from({ length: n }, (_, i) => inc(from + i));
    const each = (from: number, n: number) => incs(from, n).map((e, i) => ({ ...e, metadata: testMetadata({ request_id: `r${from + i}` }) }));
    await store.appendToStream({ stream_id: 'lean', stream_type: 'counter', expected: 'no_stream', events: incs(1, 7) }, { metadata: testMetadata() });
    await store.appendToStream({ stream_id: 'lean', stream_type: 'counter', expected: 7, events: incs(8, 5) }, { metadata: testMetadata() });
    // A new stream after an existing one, so the second's events do not start the statement's indexes.
    await store.appendToStreams([
      { stream_id: 'lean', stream_type: 'counter', expected: 12, events: incs(13, 4) },
      { stream_id: 'multi', stream_type: 'counter', expected: 'no_stream', events: [...incs(1, 5), { type: 'CounterNamed', data: { name: 'm' } }] },
      { stream_id: 'one', stream_type: 'counter', expected: 'no_stream', events: incs(1, 1) },
    ], { metadata: testMetadata(), command_id: 'batch-cmd' });
    await store.appendEach({ stream_id: 'each', stream_type: 'counter', expected: 'no_stream', events: each(1, 6) });
    await store.appendEach({ stream_id: 'multi', stream_type: 'counter', expected: 6, events: each(7, 4) });
    const client = await db.pool.connect();
    try {
      // The second append of the transaction numbers its events after the first's.
      await client.query('begin');
      await store.appendToStream({ stream_id: 'each', stream_type: 'counter', expected: 6, events: incs(7, 3) }, { metadata: testMetadata(), client });
      await store.appendToStreams([
        { stream_id: 'one', stream_type: 'counter', expected: 1, events: incs(2, 4) },
        { stream_id: 'fresh', stream_type: 'counter', expected: 'no_stream', events: incs(1, 3) },
      ], { metadata: testMetadata(), client });
      await client.query('commit');
    } finally {
      client.release();
    }

    const { rows } = await db.pool.query(`select e.*, ((extract(epoch from e.created_at) * 1000000)::bigint)::text as us from events e order by stream_id, version`);
    expect(rows).toHaveLength(16 + 10 + 5 + 9 + 3);
    let previous: { stream_id: string; hash: Buffer } | null = null;
    for (const r of rows) {
      const c = contentDigest({ event_id: r.event_id, stream_id: r.stream_id, stream_type: r.stream_type, type: r.type, schema_version: r.schema_version,
        data_json: canonicalJson(r.data), metadata_json: canonicalJson(r.metadata) });
      const expected = linkHash(previous && previous.stream_id === r.stream_id ? previous.hash : null, BigInt(r.position), r.version, BigInt(r.us), c);
      expect({ stream_id: r.stream_id, version: r.version, hash: (r.hash as Buffer).toString('hex') })
        .toEqual({ stream_id: r.stream_id, version: r.version, hash: expected.toString('hex') });
      previous = { stream_id: r.stream_id, hash: expected };
    }
    expect(await verifyChain(db.pool)).toMatchObject({ ok: true, events_checked: rows.length, first_broken: null });
  });

  it('keeps the batches\' link in the database the same as the chain\'s definition (migration 0037 took it from linkHashSql)', async () => {
    // A later edit of linkHashSql changes what a fresh database installs but not what 0037 installed elsewhere: this says so.
    const { rows } = await db.pool.query<{ src: string }>("select prosrc as src from pg_proc where proname = 'tmi_chain_link_step'");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.src).toContain(linkHashSql('coalesce(previous, head)', 'pos', 'ver', 'created_at', 'c'));
  });

  it('stays clean under concurrent appends, appendEach batches and checkpoints', async () => {
    const writers = Array.from({ length: 6 }, async (_, w) => {
      for (let i = 0; i < 15; i++) {
        // Shared streams with expected 'any': racing writers retry on the version key.
        await store.appendToStream({ stream_id: `shared-${i % 3}`, stream_type: 'counter', expected: 'any', events: [inc(w), inc(i)] }, { metadata: testMetadata() });
        if (w % 2 === 0) {
          await store.appendEach({ stream_id: `batch-${w}`, stream_type: 'counter', expected: 'any', events: [
            { ...inc(i), metadata: testMetadata() }, { ...inc(i + 1), metadata: testMetadata() },
          ] });
        }
      }
    });
    const checkpointer = (async () => {
      for (let i = 0; i < 10; i++) await checkpointSettledEvents(db.pool, 25);
    })();
    await Promise.all([...writers, checkpointer]);
    await checkpointSettledEvents(db.pool, 25);
    const result = await verifyChain(db.pool);
    expect(result).toMatchObject({ ok: true, events_checked: 6 * 15 * 2 + 3 * 15 * 2, first_broken: null });
    expect(result.checkpoints_checked).toBeGreaterThan(1);
  });

  it('verifies a stream whose later version sits at a lower position (an older transaction appended after a newer one committed)', async () => {
    // Positions follow transaction ids, versions follow commits: a transaction that took its id
    // first (its append to x) and appends to a after another one committed a's version 1 puts
    // version 2 below it in the global order. The chain links versions, at append and at verify.
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await store.appendToStream({ stream_id: 'x', stream_type: 'counter', expected: 'no_stream', events: [inc(1)] }, { metadata: testMetadata(), client });
      await store.appendToStream({ stream_id: 'a', stream_type: 'counter', expected: 'no_stream', events: [inc(1)] }, { metadata: testMetadata() });
      await store.appendToStream({ stream_id: 'a', stream_type: 'counter', expected: 1, events: [inc(2), inc(3)] }, { metadata: testMetadata(), client });
      await client.query('commit');
    } finally {
      client.release();
    }
    expect(await positionOf('a', 2)).toBeLessThan(await positionOf('a', 1));
    expect(await verifyChain(db.pool)).toMatchObject({ ok: true, events_checked: 4, broken_links: 0, first_broken: null });
    await checkpointSettledEvents(db.pool);
    expect((await verifyChain(db.pool)).ok).toBe(true);
  });

  it('seals only settled events: a checkpoint never covers a range an open transaction can still add to', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      // Uncommitted, at a position below the one committed next.
      await store.appendToStream({ stream_id: 'slow', stream_type: 'counter', expected: 'no_stream', events: [inc(1)] }, { metadata: testMetadata(), client });
      await store.appendToStream({ stream_id: 'fast', stream_type: 'counter', expected: 'no_stream', events: [inc(1)] }, { metadata: testMetadata() });
      expect(await checkpointSettledEvents(db.pool)).toEqual([]);
      await client.query('commit');
    } finally {
      client.release();
    }
    expect(await checkpointSettledEvents(db.pool)).toMatchObject([{ after_position: 0, event_count: 2 }]);
    expect((await verifyChain(db.pool)).ok).toBe(true);
  });

  it('detects a checkpoint whose event count was edited', async () => {
    await populate();
    await checkpointSettledEvents(db.pool);
    await db.pool.query('update event_chain_checkpoints set event_count = event_count - 1');
    expectBroken(await verifyChain(db.pool), { problem: 'checkpoint_mismatch', checkpoint_id: 1, position: 1 });
  });

  it('detects edited data', async () => {
    await populate();
    await tamper(`update events set data = '{"by": 99}' where stream_id = 'a' and version = 2`);
    expectBroken(await verifyChain(db.pool), { position: await positionOf('a', 2), stream_id: 'a', version: 2, problem: 'hash_mismatch' });
  });

  it('detects edited metadata', async () => {
    await populate();
    await tamper(`update events set metadata = jsonb_set(metadata, '{actor,user_id}', '"mallory"') where stream_id = 'c' and version = 2`);
    expectBroken(await verifyChain(db.pool), { position: await positionOf('c', 2), stream_id: 'c', version: 2, problem: 'hash_mismatch' });
  });

  it('detects an edited type and an edited schema version', async () => {
    await populate();
    await tamper(`update events set type = 'CounterNamed' where stream_id = 'b' and version = 1`);
    expectBroken(await verifyChain(db.pool), { stream_id: 'b', version: 1, problem: 'hash_mismatch' });
    await tamper(`update events set type = 'CounterIncremented' where stream_id = 'b' and version = 1`);
    expect((await verifyChain(db.pool)).ok).toBe(true);
    await tamper(`update events set schema_version = 2 where stream_id = 'a' and version = 4`);
    expectBroken(await verifyChain(db.pool), { stream_id: 'a', version: 4, problem: 'hash_mismatch' });
  });

  it('detects an event deleted in the middle of a stream (also with all triggers disabled)', async () => {
    await populate();
    const client = await db.pool.connect();
    try {
      await client.query('alter table events disable trigger all');
      await client.query(`delete from events where stream_id = 'a' and version = 2`);
      await client.query('alter table events enable trigger all');
    } finally {
      client.release();
    }
    expectBroken(await verifyChain(db.pool), { position: await positionOf('a', 3), stream_id: 'a', version: 3, problem: 'predecessor_missing' });
  });

  it('detects the last event of a stream deleted, through the checkpoint that sealed it', async () => {
    await populate();
    await checkpointSettledEvents(db.pool);
    await tamper(`delete from events where stream_id = 'c' and version = 4`);
    const result = await verifyChain(db.pool);
    // Every remaining link is intact: only the checkpoint can see the missing tail.
    expect(result.broken_links).toBe(0);
    expectBroken(result, { problem: 'checkpoint_mismatch', stream_id: null, checkpoint_id: 1 });
  });

  it('detects an inserted event, even one whose hash was forged to fit its stream', async () => {
    await populate();
    await checkpointSettledEvents(db.pool);
    // Forged correctly against a's head, at a position after it and inside the sealed range.
    const head = (await db.pool.query(`select hash from events where stream_id = 'a' and version = 4`)).rows[0].hash as Buffer;
    const position = (await positionOf('a', 4)) + 1000;
    const eventId = '0190a000-0000-7000-8000-000000000001';
    const metadata = testMetadata();
    const c = contentDigest({ event_id: eventId, stream_id: 'a', stream_type: 'counter', type: 'CounterIncremented', schema_version: 1,
      data_json: canonicalJson({ by: 50 }), metadata_json: canonicalJson(metadata) });
    const createdUs = BigInt(Date.UTC(2026, 0, 1)) * 1000n;
    const forged = linkHash(head, BigInt(position), 5, createdUs, c);
    await tamper(`insert into events (position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, created_at, hash)
      values (${position}, '${eventId}', 'a', 'counter', 5, 'CounterIncremented', 1, '{"by": 50}', '${JSON.stringify(metadata)}',
              to_timestamp(${Number(createdUs) / 1e6}), '\\x${forged.toString('hex')}')`);
    const sealed = await verifyChain(db.pool);
    expect(sealed.broken_links).toBe(0);
    expectBroken(sealed, { problem: 'checkpoint_mismatch', checkpoint_id: 1 });

    // One past every checkpoint, with a made-up hash, breaks its own link.
    await tamper(`delete from events where event_id = '${eventId}'`,
      `insert into events (position, event_id, stream_id, stream_type, version, type, schema_version, data, metadata, hash)
       values ((select max(position) + 1 from events), gen_random_uuid(), 'z', 'counter', 1, 'CounterIncremented', 1, '{"by": 1}', '{}', sha256('x'))`);
    expectBroken(await verifyChain(db.pool), { stream_id: 'z', version: 1, problem: 'hash_mismatch' });
  });

  it('detects two positions swapped', async () => {
    await populate();
    const [p, q] = [await positionOf('a', 3), await positionOf('b', 1)];
    await tamper(`update events set position = -1 where position = ${p}`, `update events set position = ${p} where position = ${q}`,
      `update events set position = ${q} where position = -1`);
    expectBroken(await verifyChain(db.pool), { position: Math.min(p, q), problem: 'hash_mismatch' });
  });

  it('detects two versions swapped', async () => {
    await populate();
    await tamper(`update events set version = 1000 where stream_id = 'c' and version = 2`, `update events set version = 2 where stream_id = 'c' and version = 3`,
      `update events set version = 3 where stream_id = 'c' and version = 1000`);
    // c's version 3 now sits at the position before its version 2: its hash covered version 2 there.
    expectBroken(await verifyChain(db.pool), { position: await positionOf('c', 3), stream_id: 'c', version: 3, problem: 'hash_mismatch' });
  });
});
