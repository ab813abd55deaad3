import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { arrayLiteral, COPY_NULL, encodeCopyField } from '../infra/copy-text.js';
import { ident } from './shadow-schema.js';

/** How a column takes a row's value: as JSON text (json, jsonb), as an array literal (any array type), or as the value's text. */
export type ColumnKind = 'json' | 'array' | 'scalar';

/** Characters of COPY text sent at once: large enough that the stream's per-write cost is noise, small enough to hold. */
const COPY_CHUNK_CHARS = 1 << 20;

/** A non-null value as the text of a scalar column: JSON's text of it, as a JSON parameter would give, strings and dates as themselves. */
const scalarText = (v: unknown): string => (typeof v === 'string' ? v : v instanceof Date ? v.toISOString() : JSON.stringify(v));
/** An invalid Date is NULL, as JSON.stringify made it for the former inserts. */
const invalidDate = (v: unknown): boolean => v instanceof Date && Number.isNaN(v.getTime());

/**
 * A row's value as its column's text in a COPY row, converting as the bulk rows' former
 * `json_populate_recordset` inserts did, so a row is written the same either way: a missing
 * value, null, and a number JSON cannot hold (NaN, ±Infinity, which JSON.stringify makes null)
 * are NULL; a json/jsonb column gets the value's JSON (a string as a JSON string); an array
 * column an array literal; any other column the value's text (numbers and booleans as JSON
 * writes them, dates as ISO 8601).
 */
export function copyValue(value: unknown, kind: ColumnKind): string {
  if (value === null || value === undefined || (typeof value === 'number' && !Number.isFinite(value)) || invalidDate(value)) return COPY_NULL;
  if (kind === 'json') return encodeCopyField(JSON.stringify(value));
  if (kind === 'array' && Array.isArray(value)) return encodeCopyField(arrayLiteral(value, scalarText));
  return encodeCopyField(scalarText(value));
}

/**
 * The kinds of a table's columns, by name: the table of the search path's first schema (the
 * shadow's), and no other. A table the shadow lacks is refused rather than found further along
 * the path, where the live one would take the rows.
 */
export async function columnKinds(client: PoolClient, table: string): Promise<Map<string, ColumnKind>> {
  const { rows } = await client.query<{ name: string; kind: ColumnKind }>(
    `select a.attname as name,
            case when t.typcategory = 'A' then 'array' when t.typname in ('json', 'jsonb') then 'json' else 'scalar' end as kind
     from pg_class c join pg_attribute a on a.attrelid = c.oid join pg_type t on t.oid = a.atttypid
     where c.relname = $1 and c.relnamespace = (select oid from pg_namespace where nspname = (current_schemas(false))[1])
       and a.attnum > 0 and not a.attisdropped`, [table]);
  if (rows.length === 0) throw new Error(`no table ${table} in the first schema of the search path`);
  return new Map(rows.map((r) => [r.name, r.kind]));
}

/**
 * Writes rows into `table` (the search path's first, i.e. the shadow's) with one
 * `COPY … FROM STDIN` in text format, streamed in chunks. The columns are the first row's
 * (generated columns are not among them); a later row's missing value is NULL.
 */
export async function copyRows(client: PoolClient, table: string, rows: Iterable<Record<string, unknown>>): Promise<number> {
  const iterator = rows[Symbol.iterator]();
  const first = iterator.next();
  if (first.done) return 0;
  const names = Object.keys(first.value);
  const kinds = await columnKinds(client, table);
  const columns = names.map((n) => {
    const kind = kinds.get(n);
    if (!kind) throw new Error(`table ${table} has no column ${n}`);
    return { name: n, kind };
  });
  let written = 0;
  function* text(): Generator<string> {
    let chunk = '';
    for (let next = first; !next.done; next = iterator.next()) {
      const row = next.value;
      let line = '';
      for (let i = 0; i < columns.length; i++) line += (i === 0 ? '' : '\t') + copyValue(row[columns[i]!.name], columns[i]!.kind);
      chunk += line + '\n';
      written++;
      if (chunk.length >= COPY_CHUNK_CHARS) { yield chunk; chunk = ''; }
    }
    if (chunk !== '') yield chunk;
  }
  await pipeline(Readable.from(text()), client.query(copyFrom(`copy ${ident(table)} (${names.map(ident).join(', ')}) from stdin`)));
  return written;
}
