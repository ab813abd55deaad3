import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';

/**
 * The DDL side of a zero-downtime rebuild (src/projections/rebuild.ts): the schemas a shadow
 * build and a retired version live in, and the copy of the live tables' shape the shadow
 * builds into. Names of constraints and indexes are kept: a schema is its own namespace, so
 * the shadow's `threats_pkey` does not clash with the live one, and after the swap public
 * carries the same names as before (migrations that drop or alter an index by name still work).
 */

export const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Where version `version` of a projection is built while the live version serves. */
export const shadowSchemaOf = (name: string, version: number): string => `rebuild_${name}_v${version}`;
/** Where the version a swap replaced is kept, for rollback, until dropped. */
export const retiredSchemaOf = (name: string, version: number): string => `retired_${name}_v${version}`;
/** The shadow's own bookkeeping tables, never moved into public. */
export const STATE_TABLE = 'rebuild_state';
export const SHADOW_DEAD_LETTERS = 'rebuild_dead_letters';
/** A retired version's checkpoint and dead letters, as they were when it was swapped out. */
export const RETIRED_CHECKPOINT = 'retired_checkpoint';
export const RETIRED_DEAD_LETTERS = 'retired_dead_letters';
const BOOKKEEPING = new Set([STATE_TABLE, SHADOW_DEAD_LETTERS, RETIRED_CHECKPOINT, RETIRED_DEAD_LETTERS]);

/** Retired schemas of a projection (normally at most one), newest version first. */
export async function retiredSchemas(client: PoolClient, name: string): Promise<{ schema: string; version: number }[]> {
  const { rows } = await client.query<{ nspname: string }>('select nspname from pg_namespace where nspname like $1', [`retired\\_${name.replaceAll('_', '\\_')}\\_v%`]);
  return rows
    .map((r) => ({ schema: r.nspname, version: Number(r.nspname.slice(`retired_${name}_v`.length)) }))
    .filter((r) => Number.isInteger(r.version) && r.schema === retiredSchemaOf(name, r.version))
    .sort((a, b) => b.version - a.version);
}

export async function schemaExists(client: PoolClient, schema: string): Promise<boolean> {
  const { rows } = await client.query('select 1 from pg_namespace where nspname = $1', [schema]);
  return rows.length > 0;
}

/** A table shape the swap cannot carry over safely; the rebuild refuses before building anything. */
export class ShadowUnsupportedError extends Error {
  constructor(projection: string, problems: string[]) {
    super(`projection ${projection} cannot be rebuilt beside its live version: ${problems.join('; ')}`);
    this.name = 'ShadowUnsupportedError';
  }
}

/**
 * What would make moving the tables wrong: a column fed by a sequence (the shadow would share
 * the live table's sequence, which moves away with it), a view over a table (views bind to the
 * table itself and would keep reading the retired one), a foreign key from a table outside the
 * projection (it would keep pointing at the retired table).
 */
export async function unsupportedShapes(client: PoolClient, tables: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ problem: string }>(
    `with t as (select oid, relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') and relname = any($1::text[]))
     select format('%s.%s takes its default from a sequence', t.relname, a.attname) as problem
       from t join pg_attrdef d on d.adrelid = t.oid join pg_attribute a on a.attrelid = t.oid and a.attnum = d.adnum
       where pg_get_expr(d.adbin, d.adrelid) like 'nextval(%'
     union all
     select distinct format('view %s reads %s', v.relname, t.relname)
       from t join pg_depend dep on dep.refobjid = t.oid join pg_rewrite rw on rw.oid = dep.objid join pg_class v on v.oid = rw.ev_class
       where v.oid <> t.oid
     union all
     select format('foreign key %s of %s references %s', c.conname, c.conrelid::regclass, t.relname)
       from t join pg_constraint c on c.confrelid = t.oid where c.contype = 'f' and c.conrelid not in (select oid from t)
     union all
     select format('table %s does not exist', n) from unnest($1::text[]) as n where n not in (select relname from t)`,
    [tables]);
  return rows.map((r) => r.problem);
}

/** Goes up whenever the shadow's bookkeeping tables change: a shadow of another format is not resumed. */
const BOOKKEEPING_FORMAT = 2;

/**
 * A fingerprint of what a shadow is built to: the projection's version, its tables and their
 * live shape (columns with types, nullability, defaults, generated and identity; constraints;
 * indexes) and the bookkeeping's format. A shadow records it when created; one whose fingerprint
 * differs from the current one (the live tables changed by a migration since, another code's
 * tables, an older bookkeeping) would swap in tables of the wrong shape, and is not resumed.
 * Read with public alone on the search path, so definitions come out the same in every caller.
 */
export async function shadowShape(client: PoolClient, tables: readonly string[], version: number): Promise<string> {
  const { rows: [was] } = await client.query<{ path: string }>(`select current_setting('search_path') as path, set_config('search_path', 'public', true)`);
  try {
    const { rows } = await client.query(
      `select c.relname,
         (select json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated, a.attidentity,
                 a.attcollation, pg_get_expr(d.adbin, d.adrelid)) order by a.attnum)
          from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
          where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
         (select json_agg(json_build_array(k.conname, pg_get_constraintdef(k.oid)) order by k.conname) from pg_constraint k where k.conrelid = c.oid) as constraints,
         (select json_agg(pg_get_indexdef(i.indexrelid) order by pg_get_indexdef(i.indexrelid)) from pg_index i where i.indrelid = c.oid) as indexes
       from pg_class c where c.relnamespace = 'public'::regnamespace and c.relname = any($1::text[]) order by c.relname`, [tables]);
    return createHash('sha256').update(JSON.stringify({ format: BOOKKEEPING_FORMAT, version, tables: [...tables].sort(), rows })).digest('hex');
  } finally {
    await client.query(`select set_config('search_path', $1, true)`, [was!.path]);
  }
}

/** The fingerprint a shadow recorded when it was created; null when it recorded none (a shadow of an older format). */
export async function recordedShape(client: PoolClient, schema: string): Promise<string | null> {
  const { rows } = await client.query<{ shape: string | null }>(`select to_jsonb(s) ->> 'shape' as shape from ${ident(schema)}.${STATE_TABLE} s`);
  return rows[0]?.shape ?? null;
}

/**
 * Creates the shadow schema: its bookkeeping, and every table `LIKE` its live twin (columns,
 * defaults, generated columns, checks, storage) with the live primary keys, unique, exclusion
 * and foreign-key constraints under their own names. A foreign key between two of the
 * projection's tables points at the shadow twin: it is added with the shadow first on the
 * search path. Unique indexes come with them; the other secondary indexes later (`createShadowIndexes`):
 * loading without them is faster.
 */
export async function createShadowTables(client: PoolClient, schema: string, tables: readonly string[], version: number): Promise<void> {
  const s = ident(schema);
  const shape = await shadowShape(client, tables, version);
  await client.query(`create schema ${s}`);
  await client.query(`create table ${s}.${STATE_TABLE} (position bigint not null, version integer not null, applied bigint not null default 0,
    indexed boolean not null default false, started_at timestamptz not null default now(), shape text not null)`);
  await client.query(`insert into ${s}.${STATE_TABLE} (position, version, shape) values (0, $1, $2)`, [version, shape]);
  // status: 'pending', or 'skipped' for an event an operator skipped in the live version (the build honours that).
  await client.query(`create table ${s}.${SHADOW_DEAD_LETTERS} (event_position bigint not null, event_id uuid primary key, event_type text not null, error text not null,
    status text not null default 'pending')`);
  for (const t of tables) await client.query(`create table ${s}.${ident(t)} (like public.${ident(t)} including all excluding indexes)`);
  const constraints = async (types: string[]) => (await client.query<{ table: string; name: string; def: string }>(
    `select c.relname as table, k.conname as name, pg_get_constraintdef(k.oid) as def
     from pg_constraint k join pg_class c on c.oid = k.conrelid
     where c.relnamespace = 'public'::regnamespace and c.relname = any($1::text[]) and k.contype = any($2::"char"[])
     order by c.relname, k.conname`, [tables, types])).rows;
  // Definitions are read with public alone on the path, so references come out unqualified...
  await client.query(`select set_config('search_path', 'public', true)`);
  const keys = await constraints(['p', 'u', 'x']);
  const foreign = await constraints(['f']);
  // ...and are resolved with the shadow first.
  await client.query(`select set_config('search_path', $1, true)`, [`${s}, public`]);
  for (const k of [...keys, ...foreign]) await client.query(`alter table ${s}.${ident(k.table)} add constraint ${ident(k.name)} ${k.def}`);
  // A unique index that backs no constraint is a rule like one (one primary provider a user): the
  // shadow must refuse during the load what the live tables refuse, not fail at the end.
  await createShadowIndexes(client, schema, tables, 'unique');
}

/**
 * The live tables' indexes that back no constraint, created on the shadow twins under the same
 * names: the unique ones with the tables, the others after the load.
 */
export async function createShadowIndexes(client: PoolClient, schema: string, tables: readonly string[], which: 'unique' | 'other' = 'other'): Promise<void> {
  const { rows } = await client.query<{ table: string; def: string }>(
    `select t.relname as table, pg_get_indexdef(i.indexrelid) as def
     from pg_index i join pg_class t on t.oid = i.indrelid
     where t.relnamespace = 'public'::regnamespace and t.relname = any($1::text[]) and i.indisunique = $2
       and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid and k.conrelid = i.indrelid)`, [tables, which === 'unique']);
  for (const r of rows) {
    const def = r.def.replace(/ ON (ONLY )?\S+ USING /, ` ON ${ident(schema)}.${ident(r.table)} USING `);
    if (def === r.def) throw new Error(`cannot place index on the shadow: ${r.def}`);
    await client.query(def);
  }
}

/**
 * Grants every privilege others hold on the live tables (and their columns) on the shadow twins
 * too, so a role that reads the projection (a read-only reporting role, say) keeps its access
 * once the shadow is swapped in. Done at the swap, under the projection's lock, so a grant made
 * during the build is not missed. The migrations grant nothing today; a deployment may.
 */
export async function copyGrants(client: PoolClient, schema: string, tables: readonly string[]): Promise<void> {
  const { rows } = await client.query<{ table: string; column: string | null; privilege: string; grantee: string; grantable: boolean }>(
    `with t as (select oid, relname, relowner, relacl from pg_class where relnamespace = 'public'::regnamespace and relname = any($1::text[])),
          acl as (select t.relname, null::name as attname, t.relowner, a.* from t cross join lateral aclexplode(t.relacl) a
                  union all
                  select t.relname, c.attname, t.relowner, a.* from t join pg_attribute c on c.attrelid = t.oid and c.attacl is not null
                    cross join lateral aclexplode(c.attacl) a)
     select acl.relname as table, acl.attname as column, acl.privilege_type as privilege, acl.is_grantable as grantable,
            case when acl.grantee = 0 then 'public' else quote_ident(r.rolname) end as grantee
     from acl left join pg_roles r on r.oid = acl.grantee
     where acl.grantee <> acl.relowner`, [tables]);
  for (const g of rows) {
    const columns = g.column === null ? '' : ` (${ident(g.column)})`;
    await client.query(`grant ${g.privilege}${columns} on ${ident(schema)}.${ident(g.table)} to ${g.grantee}${g.grantable ? ' with grant option' : ''}`);
  }
}

/** Statistics for the planner, gathered on the shadow before its swap: a freshly loaded table has none, and they move with the table. */
export async function analyzeTables(client: PoolClient, schema: string, tables: readonly string[]): Promise<void> {
  for (const t of tables) await client.query(`analyze ${ident(schema)}.${ident(t)}`);
}

/** Tables of a schema other than the rebuild's bookkeeping: what a retired version holds. */
export async function tablesOf(client: PoolClient, schema: string): Promise<string[]> {
  const { rows } = await client.query<{ tablename: string }>('select tablename from pg_tables where schemaname = $1 order by tablename', [schema]);
  return rows.map((r) => r.tablename).filter((t) => !BOOKKEEPING.has(t));
}
