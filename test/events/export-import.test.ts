import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool, PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedHash, type ChainedRow } from '../../src/events/chain.js';
import { checkpointSettledEvents } from '../../src/events/checkpoints.js';
import { SAFE_HORIZON_SQL } from '../../src/events/position.js';
import { EventStore } from '../../src/events/store.js';
import type { ExportHeader } from '../../src/events/transfer/format.js';
import { ImportRefusedError, importEvents } from '../../src/events/transfer/import.js';
import { projections } from '../../src/projections/registry.js';
import { projectionStatuses } from '../../src/projections/status.js';
import { projectionDigests } from '../../src/projections/table-digest.js';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { sessionOn } from '../helpers/collaboration.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { testCatalog, testMetadata } from '../helpers/events.js';
import { loginWithDevProvider } from '../helpers/login.js';
import { populatedThreatModel } from '../history/fixtures.js';
import type { Who } from '../threat-models/helpers.js';

/** Runs the CLI as an operator would, on the database at `url`; stdout and stderr kept apart. */
function cli(url: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: url, LOG_LEVEL: 'warn' };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every projection has applied every event of its types, and none is halted. */
async function caughtUp(pool: Pool): Promise<void> {
  await eventually('the projections caught up', async () => {
    const statuses = await projectionStatuses(pool, projections);
    return statuses.every((s) => s.lag_events === 0 && !s.halted && s.dead_letters === 0);
  });
}

/** Every event as the export renders it (timestamps in UTC), in position order. */
async function eventsAsText(pool: Pool): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`set local timezone = 'UTC'`);
    const { rows } = await client.query<{ line: string }>('select row_to_json(e)::text as line from events e order by position');
    await client.query('commit');
    return rows.map((r) => r.line);
  } finally {
    client.release();
  }
}
/** Every chain checkpoint as the export renders it, in their order. */
async function checkpointsAsText(pool: Pool): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`set local timezone = 'UTC'`);
    const { rows } = await client.query<{ line: string }>(
      'select row_to_json(r)::text as line from (select after_position, through_position, event_count, digest, created_at from event_chain_checkpoints order by id) r');
    await client.query('commit');
    return rows.map((r) => r.line);
  } finally {
    client.release();
  }
}

/** Microseconds since the epoch of a timestamp as the export renders it (`2026-01-02T03:04:05.123456+00:00`). */
function microsOf(ts: string): bigint {
  const m = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts)!;
  return BigInt(Date.parse(`${m[1]}${m[3]}`)) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

/** Event lines given the hashes their chain defines, as someone forging a file consistently would. */
function rechained(eventLines: string[]): string[] {
  const heads = new Map<string, Buffer>();
  return eventLines.map((line) => {
    const e = JSON.parse(line) as ChainedRow & { created_at: string; hash: string };
    const hash = expectedHash({ ...e, position: String(e.position), created_us: String(microsOf(e.created_at)) }, heads.get(e.stream_id) ?? null);
    heads.set(e.stream_id, hash);
    return JSON.stringify({ ...e, hash: `\\x${hash.toString('hex')}` });
  });
}

const eventTotal = async (pool: Pool) => Number((await pool.query<{ n: string }>('select count(*) as n from events')).rows[0]!.n);

describe('events export and import', () => {
  let source: TestApp;
  let dir: string;
  let file: string;
  let lines: string[];
  let header: ExportHeader;
  let sourceEvents: string[];
  let threatModelId: string;
  let sourceAliases: { threatModel: number; threat: number };
  const fresh: { db: TestDatabase; held: PoolClient }[] = [];
  // Held open: another run's global setup drops every test database nobody is connected to.
  const freshDatabase = async () => {
    const db = await createTestDatabase();
    fresh.push({ db, held: await db.pool.connect() });
    return db;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tmi-export-'));
    file = join(dir, 'events.ndjson');
    source = await startTestApp();
    // Users registered by real logins, threat models with every child kind, a collaboration session.
    const alice: Who = { name: 'alice', token: (await loginWithDevProvider(source, 'alice')).access_token };
    const bob: Who = { name: 'bob', token: (await loginWithDevProvider(source, 'bob')).access_token };
    const populated = await populatedThreatModel(source, alice.token);
    threatModelId = populated.id;
    await populatedThreatModel(source, bob.token, { description: 'second' });
    const deleted = await source.request(`/threat_models/${populated.id}/documents/${populated.children.documents}`, { method: 'DELETE', token: alice.token });
    expect(deleted.status).toBe(204);
    await sessionOn(source, alice, bob);
    await caughtUp(source.database.pool);
    // Sealed, so the export carries checkpoints.
    await checkpointSettledEvents(source.database.pool);
    const tm = await json(await source.request(`/threat_models/${threatModelId}`, { token: alice.token }));
    sourceAliases = { threatModel: Number(tm.alias ?? 0), threat: Number(tm.threats[0].alias ?? 0) };

    const exported = await cli(source.database.url, ['events', 'export']);
    expect(exported.code, exported.stderr).toBe(0);
    writeFileSync(file, exported.stdout);
    // stdout is the export and nothing else: every line JSON, the progress went to stderr.
    lines = exported.stdout.split('\n');
    expect(lines.pop()).toBe('');
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(exported.stderr).toMatch(/^export: \d+ events in [\d.]+ s \(\d+ events\/s\)$/m);
    header = JSON.parse(lines[0]!) as ExportHeader;
    sourceEvents = await eventsAsText(source.database.pool);
  }, 120_000);

  afterAll(async () => {
    await source?.stop();
    for (const { db, held } of fresh) {
      held.release();
      await db.drop();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a header, then every event in position order with every column of the events table, then the chain checkpoints', async () => {
    expect(header).toMatchObject({ format: 'tmi-es-events', format_version: 2, event_count: sourceEvents.length, source: { database: source.database.name } });
    expect(header.head_position).toBe(JSON.parse(sourceEvents.at(-1)!).position);
    const { rows } = await source.database.pool.query<{ name: string }>(
      `select column_name as name from information_schema.columns where table_schema = 'public' and table_name = 'events' order by ordinal_position`);
    expect(header.columns.map((c) => c.name)).toEqual(rows.map((r) => r.name));
    expect(lines.slice(1, 1 + header.event_count)).toEqual(sourceEvents);
    // The checkpoints' columns, every one but the id, listed like the events'.
    expect(header.checkpoint_columns.map((c) => c.name)).toEqual(['after_position', 'through_position', 'event_count', 'digest', 'created_at']);
    expect(header.checkpoint_count).toBeGreaterThan(0);
    expect(lines.slice(1 + header.event_count)).toEqual((await checkpointsAsText(source.database.pool)).slice(0, header.checkpoint_count));
    expect(lines).toHaveLength(1 + header.event_count + header.checkpoint_count);
  }, 60_000);

  it('imports into a fresh database: the same events, the same read tables, and appends continue after them', async () => {
    const db = await freshDatabase();
    const imported = await cli(db.url, ['events', 'import', '--in', file]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toMatch(new RegExp(`^import: ${header.event_count} events in`, 'm'));
    expect(await eventsAsText(db.pool)).toEqual(sourceEvents);
    expect(await checkpointsAsText(db.pool)).toEqual(lines.slice(1 + header.event_count));

    // The service on the imported database rebuilds its projections from the first event on its own.
    const target = await startTestApp({ database: db });
    try {
      await caughtUp(db.pool);
      const expected = await projectionDigests(source.database.pool, projections);
      expect(expected.filter((d) => d.rows > 0).map((d) => d.table)).toEqual(expect.arrayContaining(
        ['users', 'threat_models', 'threat_model_access', 'metadata', 'threats', 'diagrams', 'documents', 'repositories', 'notes', 'assets', 'collaboration_sessions']));
      expect(await projectionDigests(db.pool, projections)).toEqual(expected);
      // Nothing was appended to the source meanwhile, so the digests compare the export's state.
      expect(await eventTotal(source.database.pool)).toBe(header.event_count);

      // Appending continues after the imported head, and the aliases after the imported ones.
      const alice = (await loginWithDevProvider(target, 'alice')).access_token;
      const created = await target.request('/threat_models', { method: 'POST', token: alice, json: { name: 'after the import' } });
      expect(created.status).toBe(201);
      expect(Number(created.headers.get('x-event-position'))).toBeGreaterThan(header.head_position);
      expect((await json(created)).alias).toBeGreaterThan(sourceAliases.threatModel);
      const threat = await target.request(`/threat_models/${threatModelId}/threats`, { method: 'POST', token: alice, json: { name: 'second', threat_type: ['Spoofing'] } });
      expect(threat.status).toBe(201);
      expect((await json(threat)).alias).toBe(sourceAliases.threat + 1);
      const list = await json(await target.request('/threat_models', { token: alice }));
      expect(list.threat_models.map((t: { name: string }) => t.name)).toContain('after the import');
    } finally {
      await target.stop();
    }
  }, 120_000);

  it('refuses a database that already holds events, with exit code 1, importing nothing', async () => {
    const before = await eventTotal(source.database.pool);
    const refused = await cli(source.database.url, ['events', 'import', '--in', file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/import refused, nothing imported: the database already holds events/);
    expect(await eventTotal(source.database.pool)).toBe(before);
  }, 60_000);

  it('refuses an emptied store that kept what its old events left (a chain checkpoint, a shadow rebuild)', async () => {
    const db = await freshDatabase();
    await db.pool.query('create schema rebuild_threat_models_v9');
    const refused = await cli(db.url, ['events', 'import', '--in', file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/another event store left \(schema rebuild_threat_models_v9\)/);
    expect(await eventTotal(db.pool)).toBe(0);
  }, 60_000);

  it('refuses a corrupt file, naming the line, and imports nothing', async () => {
    const db = await freshDatabase();
    const body = lines.slice(1);
    const withLine = (n: number, text: string) => [lines[0]!, ...body.slice(0, n - 2), text, ...body.slice(n - 1)];
    const event = (n: number) => JSON.parse(lines[n - 1]!) as Record<string, unknown>;
    const eventLines = body.slice(0, header.event_count);
    const checkpointLines = body.slice(header.event_count);
    // The last event of a stream that is not the file's last event: its removal leaves every link intact.
    const lastOfStream = new Map(eventLines.map((l, i) => [(JSON.parse(l) as { stream_id: string }).stream_id, i]));
    const tail = [...lastOfStream.values()].find((i) => i < eventLines.length - 1)!;
    const withoutTail = [JSON.stringify({ ...header, event_count: header.event_count - 1 }), ...eventLines.filter((_, i) => i !== tail), ...checkpointLines];
    const firstCheckpoint = JSON.parse(checkpointLines[0]!) as Record<string, unknown>;
    const cases: [string, string[], RegExp][] = [
      ['no header', body, /^line 1: not a header of a tmi-es-events export/],
      ['another format version', [JSON.stringify({ ...header, format_version: 3 }), ...body], /^line 1: format version 3 is not one this build reads/],
      ['a column this database lacks', [JSON.stringify({ ...header, columns: [...header.columns, { name: 'colour', type: 'text' }] }), ...body], /^line 1: event column colour of the export is not a column/],
      ['a column listed twice', [JSON.stringify({ ...header, columns: [...header.columns, header.columns[0]] }), ...body], /^line 1: event column position is listed twice/],
      ['a line cut short', withLine(5, lines[4]!.slice(0, 40)), /^line 5: not JSON/],
      ['a missing column', withLine(6, JSON.stringify({ ...event(6), created_at: undefined })), /^line 6: event column created_at is missing/],
      ['a null where the store needs a value', withLine(6, JSON.stringify({ ...event(6), data: null })), /^line 6: event column data is null/],
      ['positions out of order', withLine(7, JSON.stringify({ ...event(7), position: event(3).position })), /^line 7: position \d+ is not above the previous/],
      ['a value PostgreSQL refuses', withLine(8, JSON.stringify({ ...event(8), event_id: 'not-a-uuid' })), /^line 8: invalid input syntax for type uuid/],
      ['a stream version twice', withLine(9, JSON.stringify({ ...event(9), stream_id: event(8).stream_id, version: event(8).version })), /^line 9: duplicate key value violates unique constraint "events_stream_version_key"/],
      ['a truncated file', lines.slice(0, -(header.checkpoint_count + 2)), /the input ends after \d+ events, its header announces \d+/],
      ['a file cut after its events', lines.slice(0, 1 + header.event_count), /the input ends after 0 checkpoints, its header announces \d+/],
      ['more lines than announced', [...lines, checkpointLines[0]!], /^line \d+: more lines than the header announces/],
      ['a checkpoint column the header leaves out', [JSON.stringify({ ...header, checkpoint_columns: header.checkpoint_columns.filter((c) => c.name !== 'created_at') }), ...body],
        new RegExp(`^line ${2 + header.event_count}: column created_at is not among the header's checkpoint columns`)],
      ['a checkpoint column this database lacks', [JSON.stringify({ ...header, checkpoint_columns: [...header.checkpoint_columns, { name: 'colour', type: 'text' }] }), ...body],
        /^line 1: checkpoint column colour of the export is not a column/],
      ['no checkpoint columns', [JSON.stringify({ ...header, checkpoint_columns: undefined }), ...body], /^line 1: the header lists no checkpoint columns/],
      ['an edited event', withLine(6, JSON.stringify({ ...event(6), data: { edited: true } })),
        new RegExp(`hash chain does not verify .*first hash_mismatch at position ${event(6).position as number}`)],
      ['an edited event whose chain was forged to fit', [lines[0]!, ...rechained(withLine(6, JSON.stringify({ ...event(6), data: { edited: true } })).slice(1, 1 + header.event_count)), ...checkpointLines],
        /hash chain does not verify .*first checkpoint_mismatch in a checkpoint of the file/],
      ['a stream\'s last event removed', withoutTail, /hash chain does not verify \(0 broken links, \d+ broken checkpoints\); first checkpoint_mismatch in a checkpoint of the file/],
      ['an edited checkpoint', [lines[0]!, ...eventLines, JSON.stringify({ ...firstCheckpoint, digest: '\\x00' }), ...checkpointLines.slice(1)],
        /hash chain does not verify \(0 broken links, [1-9]\d* broken checkpoints\); first checkpoint_mismatch in a checkpoint of the file/],
    ];
    for (const [what, content, message] of cases) {
      const path = join(dir, 'corrupt.ndjson');
      writeFileSync(path, content.join('\n') + '\n');
      const error = await importEvents(db.pool, createReadStream(path)).then(() => null, (err: unknown) => err);
      expect(error, what).toBeInstanceOf(ImportRefusedError);
      expect((error as Error).message, what).toMatch(message);
      expect(await eventTotal(db.pool), what).toBe(0);
    }
    expect((await db.pool.query('select xid_offset from event_position_offset')).rows).toEqual([{ xid_offset: 0 }]);
    // The file itself still imports there: nothing was left behind by the refusals.
    await importEvents(db.pool, createReadStream(file));
    expect(await eventTotal(db.pool)).toBe(header.event_count);
  }, 60_000);

  it('continues the order after a head whose transaction ids are ahead of this cluster\'s', async () => {
    const db = await freshDatabase();
    // Events exported from a cluster a million transactions ahead of this one.
    const { rows: [xid] } = await db.pool.query<{ x: string }>('select pg_current_xact_id()::text as x');
    const ahead = (Number(xid!.x) + 1_000_000) * 65_536;
    // Rechained: the hash covers the position.
    const moved = rechained(lines.slice(1, 4).map((l, i) => JSON.stringify({ ...JSON.parse(l), position: ahead + i })));
    const path = join(dir, 'ahead.ndjson');
    writeFileSync(path, [JSON.stringify({ ...header, event_count: 3, head_position: ahead + 2, checkpoint_count: 0 }), ...moved].join('\n') + '\n');
    const result = await importEvents(db.pool, createReadStream(path));
    expect(result.xid_offset).toBeGreaterThan(0);

    const store = new EventStore(db.pool, testCatalog());
    const appended = await store.appendToStream({ stream_id: 'after-import', stream_type: 'counter', expected: 'no_stream', events: [{ type: 'CounterIncremented', data: { by: 1 } }] }, { metadata: testMetadata() });
    expect(appended.position).toBeGreaterThan(ahead + 2);
    // A reader passes the imported events and then sees the new one: the horizon moved with the offset.
    const { rows } = await db.pool.query<{ position: number }>(`select position from events where position < ${SAFE_HORIZON_SQL} order by position`);
    expect(rows.map((r) => r.position)).toEqual([ahead, ahead + 1, ahead + 2, appended.position]);
  }, 60_000);

  it('reads a version 1 file (events, no checkpoints) as before', async () => {
    const db = await freshDatabase();
    const { checkpoint_columns: _c, checkpoint_count: _n, ...v1 } = header;
    const path = join(dir, 'v1.ndjson');
    writeFileSync(path, [JSON.stringify({ ...v1, format_version: 1 }), ...lines.slice(1, 1 + header.event_count)].join('\n') + '\n');
    expect(await importEvents(db.pool, createReadStream(path))).toMatchObject({ events: header.event_count });
    expect(await checkpointsAsText(db.pool)).toEqual([]);
  }, 60_000);

  it('leaves no trace of the source in a re-export: exporting the import gives the same lines', async () => {
    const db = await freshDatabase();
    await importEvents(db.pool, createReadStream(file));
    const again = await cli(db.url, ['events', 'export', '--out', join(dir, 'again.ndjson')]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('');
    expect(readFileSync(join(dir, 'again.ndjson'), 'utf8').split('\n').slice(1)).toEqual([...lines.slice(1), '']);
  }, 60_000);
});
