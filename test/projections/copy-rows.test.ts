import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolClient } from 'pg';
import { copyRows, copyValue } from '../../src/projections/copy-rows.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

describe('copyValue', () => {
  it('writes null, undefined and numbers JSON cannot hold as NULL', () => {
    for (const kind of ['json', 'array', 'scalar'] as const) {
      for (const v of [null, undefined, Number.NaN, Number.POSITIVE_INFINITY, new Date(Number.NaN)]) expect(copyValue(v, kind)).toBe('\\N');
    }
  });

  it('writes a json column\'s value as JSON text, escaped for COPY', () => {
    expect(copyValue({ a: 'tab\there', b: [1, null], c: 'back\\slash "q"' }, 'json')).toBe('{"a":"tab\\\\there","b":[1,null],"c":"back\\\\\\\\slash \\\\"q\\\\""}');
    expect(copyValue('a string', 'json')).toBe('"a string"');
    expect(copyValue([], 'json')).toBe('[]');
    expect(copyValue(new Date('2026-01-02T03:04:05.678Z'), 'json')).toBe('"2026-01-02T03:04:05.678Z"');
  });

  it('writes scalars as their text: strings as they are, dates in ISO 8601, numbers and booleans as JSON does', () => {
    expect(copyValue('line\nbreak\r\\N', 'scalar')).toBe('line\\nbreak\\r\\\\N');
    expect(copyValue(new Date('2026-01-02T03:04:05.678Z'), 'scalar')).toBe('2026-01-02T03:04:05.678Z');
    expect(copyValue(12.5, 'scalar')).toBe('12.5');
    expect(copyValue(-0, 'scalar')).toBe('0');
    expect(copyValue(true, 'scalar')).toBe('true');
  });

  it('writes arrays as literals, then escaped for COPY', () => {
    expect(copyValue(['a', null, 'b\\c', 'd"e'], 'array')).toBe('{"a",NULL,"b\\\\\\\\c","d\\\\"e"}');
    expect(copyValue('{"x","y"}', 'array')).toBe('{"x","y"}');
  });
});

/**
 * copyRows against the inserts it replaced: the same rows written with `json_populate_recordset`
 * (the former bulk write) and with COPY into twin tables of every column type the projections
 * use must read back identical, tricky values included.
 */
describe('copyRows', () => {
  let db: TestDatabase;
  let client: PoolClient;
  const shape = `(id integer primary key, name text, note text, data jsonb, raw json, tags text[], ids uuid[], at timestamptz,
    day date, n bigint, score numeric, ratio double precision, flag boolean, twice integer generated always as (id * 2) stored)`;
  beforeAll(async () => {
    db = await createTestDatabase();
    client = await db.pool.connect();
    await client.query(`create table by_json ${shape}`);
    await client.query(`create table by_copy ${shape}`);
  });
  afterAll(async () => { client?.release(); await db?.drop(); });

  const rows = [
    { id: 1, name: 'plain', note: null, data: { a: 1 }, raw: [1, 2], tags: ['x', 'y'], ids: ['0190b8a6-0000-7000-8000-000000000001'], at: new Date('2026-01-02T03:04:05.678Z'), day: '2026-01-02', n: 9007199254740991, score: 12.5, ratio: 0.1, flag: true },
    { id: 2, name: 'tab\there\nnew line\r\\back\\slash', note: '\\N', data: { s: 'quote " \\ \t\n', u: 'Zürich 東京 😀', nested: { deep: [null, true, 'x'] } }, raw: 'a json string', tags: ['NULL', null, 'a,b', '{c}', 'q"uote', 'back\\slash', ' spaced ', ''], ids: [], at: '2026-06-30T23:59:59.999+02:00', day: null, n: -1, score: -0.000001, ratio: 1e-300, flag: false },
    { id: 3, name: '', note: 'Ω\u0001', data: [], raw: null, tags: [], ids: null, at: null, day: '2026-12-31', n: 0, score: 1e21, ratio: Number.NaN, flag: null },
    // A later row's missing value is NULL (the columns are the first row's).
    { id: 4, name: 'missing most' },
  ];

  it('writes exactly the rows the json_populate_recordset insert writes', async () => {
    const columns = Object.keys(rows[0]!).join(', ');
    await client.query(`insert into by_json (${columns}) select ${columns} from json_populate_recordset(null::by_json, $1::json)`, [JSON.stringify(rows)]);
    expect(await copyRows(client, 'by_copy', rows)).toBe(rows.length);
    const read = async (table: string) => (await client.query<{ r: string }>(`select t::text as r from ${table} t order by id`)).rows.map((x) => x.r);
    const [byJson, byCopy] = [await read('by_json'), await read('by_copy')];
    expect(byCopy).toHaveLength(rows.length);
    expect(byCopy).toEqual(byJson);
    const { rows: [second] } = await client.query<{ name: string; tags: (string | null)[]; data: unknown }>('select name, tags, data from by_copy where id = 2');
    expect(second).toEqual({ name: rows[1]!.name, tags: rows[1]!.tags, data: rows[1]!.data });
  });

  it('writes nothing for no rows, and names an unknown column', async () => {
    expect(await copyRows(client, 'by_copy', [])).toBe(0);
    await expect(copyRows(client, 'by_copy', [{ id: 9, nope: 1 }])).rejects.toThrow('has no column nope');
  });

  it('writes only into the search path\'s first schema: a table only a later schema has is refused, not written there', async () => {
    await client.query('create schema shadow_like; create table public.only_live (id integer primary key)');
    try {
      await client.query(`set search_path = shadow_like, public`);
      await expect(copyRows(client, 'only_live', [{ id: 1 }])).rejects.toThrow('no table only_live in the first schema');
      await client.query('create table shadow_like.only_live (id integer primary key)');
      expect(await copyRows(client, 'only_live', [{ id: 1 }])).toBe(1);
      expect((await client.query<{ n: number }>('select count(*)::int as n from public.only_live')).rows[0]!.n).toBe(0);
    } finally {
      await client.query('reset search_path');
    }
  });

  it('streams many rows in chunks, and a constraint\'s refusal is the write\'s error (with its code)', async () => {
    await client.query('create table many (id integer primary key, body text)');
    const body = 'x\t'.repeat(500);
    const many = Array.from({ length: 5_000 }, (_, i) => ({ id: i, body }));
    expect(await copyRows(client, 'many', many)).toBe(5_000);
    expect((await client.query<{ n: number; ok: boolean }>('select count(*)::int as n, bool_and(body = $1) as ok from many', [body])).rows[0]).toEqual({ n: 5_000, ok: true });
    await expect(copyRows(client, 'many', [{ id: 1, body: 'again' }])).rejects.toMatchObject({ code: '23505' });
    expect((await client.query<{ n: number }>('select count(*)::int as n from many')).rows[0]!.n).toBe(5_000);
  });
});
