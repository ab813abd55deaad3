import type { Pool, PoolClient } from 'pg';
import type { Projection } from './projection.js';

type Queryable = Pool | PoolClient;

/** Arguments jsonb_build_object takes at most (100), as name/value pairs. */
const PAIRS_PER_CALL = 50;

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/**
 * A table's content as a row count and a SHA-256 that two databases agree on exactly when they
 * hold the same rows (as a multiset; column order and physical order do not matter): each row
 * is rendered as canonical JSON of every column (`to_jsonb`: keys sorted, jsonb normalised,
 * `timestamptz` as UTC so the session's time zone does not matter), hashed, and the row hashes,
 * sorted, are hashed again. Sorting by row hash is a canonical order that costs 32 bytes a row
 * in PostgreSQL's memory, whatever the rows' size. Nothing is left out: a column that differs
 * between two rebuilds from the same events is a determinism bug in its projection.
 */
export async function tableDigest(client: Queryable, table: string, schema = 'public'): Promise<{ rows: number; digest: string }> {
  const { rows: columns } = await client.query<{ name: string }>(
    `select column_name as name from information_schema.columns
     where table_schema = $1 and table_name = $2 and data_type = 'timestamp with time zone' order by ordinal_position`,
    [schema, table]);
  let row = 'to_jsonb(t)';
  for (let i = 0; i < columns.length; i += PAIRS_PER_CALL) {
    const pairs = columns.slice(i, i + PAIRS_PER_CALL).map((c) => `${quoteLiteral(c.name)}, t.${quoteIdent(c.name)} at time zone 'UTC'`);
    row += ` || jsonb_build_object(${pairs.join(', ')})`;
  }
  const { rows: [result] } = await client.query<{ rows: number; digest: string }>(
    `select count(*)::bigint as rows, encode(sha256(coalesce(string_agg(h, ''::bytea order by h), ''::bytea)), 'hex') as digest
     from (select sha256(convert_to((${row})::text, 'UTF8')) as h from ${quoteIdent(schema)}.${quoteIdent(table)} t) s`);
  return { rows: Number(result!.rows), digest: result!.digest };
}

export interface ProjectionTableDigest { projection: string; table: string; rows: number; digest: string }

/** The digest of every table of every projection, in the projections' and their tables' order. */
export async function projectionDigests(client: Queryable, list: readonly Projection[]): Promise<ProjectionTableDigest[]> {
  const out: ProjectionTableDigest[] = [];
  for (const p of list) {
    for (const table of p.tables) out.push({ projection: p.name, table, ...await tableDigest(client, table) });
  }
  return out;
}
