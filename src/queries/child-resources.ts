import type { Pool } from 'pg';
import type { Child, ChildResource } from '../commands/child-resources/index.js';
import type { Metadata } from '../commands/threat-models/values.js';

/** A child as its read table holds it, in the domain's shape, plus its stream version. */
export interface ChildRow<F = Record<string, unknown>> extends Child<F> { version: number }

interface Row {
  id: string; threat_model_id: string; alias: number; fields: Record<string, unknown>; auto_generated: boolean;
  version: number; created_at: Date; modified_at: Date; deleted_at: Date | null;
}

const COLUMNS = 'id, threat_model_id, alias, fields, auto_generated, version, created_at, modified_at, deleted_at';

const toChild = <F>(r: Row, metadata: Metadata[]): ChildRow<F> => ({
  id: r.id, threat_model_id: r.threat_model_id, alias: r.alias, fields: r.fields as F, metadata, auto_generated: r.auto_generated,
  created_at: r.created_at.toISOString(), modified_at: r.modified_at.toISOString(), deleted_at: r.deleted_at?.toISOString() ?? null, version: r.version,
});

/** Metadata of many entities of one kind in one query, in each entity's own order. */
async function metadataByEntity(pool: Pool, kind: string, ids: readonly string[]): Promise<Map<string, Metadata[]>> {
  const out = new Map<string, Metadata[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const { rows } = await pool.query<{ entity_id: string; key: string; value: string }>({
    name: 'tmi_metadata_of_many',
    text: `select entity_id, key, value from metadata where entity_type = $1 and entity_id = any($2::text[])
           order by entity_id, created_position, created_ordinal`,
    values: [kind, ids],
  });
  for (const r of rows) out.get(r.entity_id)!.push({ key: r.key, value: r.value });
  return out;
}

/** One child of a threat model, deleted or not; null when there is no such child under that parent. */
export async function findChild<F>(pool: Pool, resource: Pick<ChildResource, 'kind' | 'plural'>, threatModelId: string, id: string): Promise<ChildRow<F> | null> {
  const { rows } = await pool.query<Row>(`select ${COLUMNS} from "${resource.plural}" where id = $1 and threat_model_id = $2`, [id, threatModelId]);
  if (!rows[0]) return null;
  return toChild<F>(rows[0], (await metadataByEntity(pool, resource.kind, [id])).get(id)!);
}

/** One ORDER BY term: an expression over the kind's table and its direction; `nullsLast` puts unset values last either way. */
export interface OrderTerm { expression: string; direction: 'asc' | 'desc'; nullsLast?: boolean }

/** A list's filter and order beyond the shared ones, as SQL over the kind's table (its generated columns). */
export interface ListRefinement {
  /** Conditions; `param(value)` returns the placeholder for a value. */
  where(param: (value: unknown) => string): string[];
  /** ORDER BY terms; `id` is always appended so pages are stable. */
  orderBy: OrderTerm[];
}

const NEWEST_FIRST: OrderTerm[] = [{ expression: 'created_at', direction: 'desc' }];

/**
 * The ORDER BY of a list. Ties are broken by `id` in the direction of the last term, so a key
 * that is never null is served in both directions by one index scanned either way (migration 0023).
 */
export function orderBySql(terms: readonly OrderTerm[]): string {
  const last = terms.at(-1)?.direction ?? 'asc';
  return [...terms.map((t) => `${t.expression} ${t.direction}${t.nullsLast ? ' nulls last' : ''}`), `id ${last}`].join(', ');
}

export interface ListOptions {
  limit: number; offset: number; includeDeleted: boolean; refinement?: ListRefinement;
  /** Fields the list does not show (a diagram's cells, a note's content), left unread: they can be megabytes. */
  omit?: readonly string[];
}

/** The statements of a list: the page with its total, and the count alone (for a page past the end, where the first returns no row). */
export interface ListStatements { page: { text: string; values: unknown[] }; count: { text: string; values: unknown[] } }

/**
 * The SQL of a page of a threat model's children. The page is read in index order and stops at
 * its last row; the total is a count in the same statement (an uncorrelated subquery, run once)
 * that for the indexed filters is an index-only scan. A window count (`count(*) over ()`) would
 * make PostgreSQL read every matching row whole before cutting the page.
 */
export function listChildrenSql(resource: Pick<ChildResource, 'plural'>, threatModelId: string, options: ListOptions): ListStatements {
  const params: unknown[] = [threatModelId];
  const param = (v: unknown) => `$${params.push(v)}`;
  const where = ['threat_model_id = $1', ...(options.includeDeleted ? [] : ['deleted_at is null']), ...(options.refinement?.where(param) ?? [])];
  const matching = `from "${resource.plural}" where ${where.join(' and ')}`;
  const count = { text: `select count(*)::int as n ${matching}`, values: [...params] };
  const columns = options.omit?.length ? COLUMNS.replace('fields', `fields - ${param([...options.omit])}::text[] as fields`) : COLUMNS;
  const text = `select ${columns}, (select count(*)::int ${matching}) as total ${matching}
     order by ${orderBySql(options.refinement?.orderBy ?? NEWEST_FIRST)} limit ${param(options.limit)} offset ${param(options.offset)}`;
  return { page: { text, values: params }, count };
}

/** A page of a threat model's children, newest first unless the refinement orders otherwise, with the total count; every child's metadata in one more query. */
export async function listChildren<F>(pool: Pool, resource: Pick<ChildResource, 'kind' | 'plural'>, threatModelId: string, options: ListOptions): Promise<{ items: ChildRow<F>[]; total: number }> {
  const sql = listChildrenSql(resource, threatModelId, options);
  const { rows } = await pool.query<Row & { total: number }>(sql.page.text, sql.page.values);
  let total = rows[0]?.total ?? 0;
  // Past the last page the statement returns no row to carry the total; count on its own.
  if (rows.length === 0 && options.offset > 0) total = (await pool.query<{ n: number }>(sql.count.text, sql.count.values)).rows[0]!.n;
  const metadata = await metadataByEntity(pool, resource.kind, rows.map((r) => r.id));
  return { items: rows.map((r) => toChild<F>(r, metadata.get(r.id)!)), total };
}

/**
 * Every live child of a threat model, of every given kind, in two queries whatever their number
 * (one over all the kinds' tables, one for all their metadata): the child arrays of the full
 * ThreatModel body. Keyed by the kind's `plural`, oldest first. Both statements are named: their
 * text is fixed by the kinds, so each connection plans them once rather than on every read, and
 * the metadata is looked up by (kind, id) pairs, one index probe per child.
 */
export async function childrenOfThreatModel(pool: Pool, kinds: readonly Pick<ChildResource, 'kind' | 'plural'>[], threatModelId: string): Promise<Map<string, ChildRow[]>> {
  const out = new Map<string, ChildRow[]>(kinds.map((k) => [k.plural, []]));
  if (kinds.length === 0) return out;
  const union = kinds.map((k, i) => `select ${i} as kind, ${COLUMNS} from "${k.plural}" where threat_model_id = $1 and deleted_at is null`).join(' union all ');
  const { rows } = await pool.query<Row & { kind: number }>({
    name: `tmi_children_of_${kinds.map((k) => k.kind).join('_')}`, text: `select * from (${union}) c order by created_at, id`, values: [threatModelId],
  });
  const metadata = new Map<string, Metadata[]>(rows.map((r) => [`${r.kind}:${r.id}`, []]));
  if (rows.length > 0) {
    const meta = await pool.query<{ entity_type: string; entity_id: string; key: string; value: string }>({
      name: 'tmi_metadata_of_pairs',
      text: `select m.entity_type, m.entity_id, m.key, m.value from unnest($1::text[], $2::text[]) as e(entity_type, entity_id)
             join metadata m on m.entity_type = e.entity_type and m.entity_id = e.entity_id
             order by m.entity_id, m.created_position, m.created_ordinal`,
      values: [rows.map((r) => kinds[r.kind]!.kind), rows.map((r) => r.id)],
    });
    const kindIndex = new Map(kinds.map((k, i) => [k.kind as string, i]));
    for (const m of meta.rows) metadata.get(`${kindIndex.get(m.entity_type)}:${m.entity_id}`)?.push({ key: m.key, value: m.value });
  }
  for (const r of rows) out.get(kinds[r.kind]!.plural)!.push(toChild(r, metadata.get(`${r.kind}:${r.id}`)!));
  return out;
}

/** The live children of a threat model with the given ids (ids that name none are left out), in the order of `ids`. */
export async function findLiveChildren<F>(pool: Pool, resource: Pick<ChildResource, 'kind' | 'plural'>, threatModelId: string, ids: readonly string[]): Promise<ChildRow<F>[]> {
  if (ids.length === 0) return [];
  const { rows } = await pool.query<Row>(
    `select ${COLUMNS} from "${resource.plural}" where threat_model_id = $1 and id = any($2::uuid[]) and deleted_at is null`, [threatModelId, ids]);
  const metadata = await metadataByEntity(pool, resource.kind, rows.map((r) => r.id));
  const byId = new Map(rows.map((r) => [r.id, toChild<F>(r, metadata.get(r.id)!)]));
  return ids.map((id) => byId.get(id.toLowerCase())).filter((c): c is ChildRow<F> => c !== undefined);
}
