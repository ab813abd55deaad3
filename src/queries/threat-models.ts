import type { Pool } from 'pg';
import type { Caller } from '../commands/caller.js';
import { callerSubjectKeys } from '../commands/threat-models/authorization.js';
import type { ThreatModel } from '../commands/threat-models/state.js';
import type { Authorization, Metadata, User } from '../commands/threat-models/values.js';
import { COUNT_COLUMNS, type CountColumn } from '../projections/threat-models.js';

/** Reads of the threat model read tables. Authorization of a single row is the domain's rule, applied by the caller. */
export type Counts = Record<CountColumn, number>;
export interface ThreatModelView extends ThreatModel { version: number; counts: Counts }

interface Row {
  id: string; alias: number; name: string; description: string | null; threat_model_framework: string; issue_uri: string | null;
  project_id: string | null; status: string; status_updated: Date | null; security_reviewer: User | null; is_confidential: boolean;
  owner: User; created_by: User; authorization: Authorization[]; version: number; created_at: Date; modified_at: Date; deleted_at: Date | null;
  document_count: number; repo_count: number; diagram_count: number; threat_count: number; asset_count: number; note_count: number;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function toView(r: Row, metadata: Metadata[]): ThreatModelView {
  return {
    id: r.id, alias: r.alias, name: r.name, description: r.description, threat_model_framework: r.threat_model_framework,
    issue_uri: r.issue_uri, project_id: r.project_id, status: r.status, status_updated: iso(r.status_updated),
    security_reviewer: r.security_reviewer, is_confidential: r.is_confidential, owner: r.owner, created_by: r.created_by,
    authorization: r.authorization, metadata, created_at: iso(r.created_at)!, modified_at: iso(r.modified_at)!, deleted_at: iso(r.deleted_at),
    version: r.version, counts: Object.fromEntries(COUNT_COLUMNS.map((c) => [c, r[c]])) as Counts,
  };
}

export async function metadataOf(pool: Pool, entityType: string, entityId: string): Promise<Metadata[]> {
  const { rows } = await pool.query<Metadata>({
    name: 'tmi_metadata_of',
    text: 'select key, value from metadata where entity_type = $1 and entity_id = $2 order by created_position, created_ordinal',
    values: [entityType, entityId],
  });
  return rows;
}

/** One threat model, deleted or not; null when the read table has no such id. */
export async function findThreatModel(pool: Pool, id: string): Promise<ThreatModelView | null> {
  const { rows } = await pool.query<Row>({ name: 'tmi_find_threat_model', text: 'select * from threat_models where id = $1', values: [id] });
  if (!rows[0]) return null;
  return toView(rows[0], await metadataOf(pool, 'threat_model', id));
}

export interface ListFilters {
  owner?: string; name?: string; description?: string; issue_uri?: string;
  created_after?: string; created_before?: string; modified_after?: string; modified_before?: string;
  status?: string[]; status_updated_after?: string; status_updated_before?: string;
  include_deleted?: boolean; security_reviewer?: string;
}

/**
 * SQL selecting the threat models a caller can read, `(id, owner)` with `owner` true where they
 * hold the owner role: index lookups by the caller's subject keys in the access table, the same
 * matching the domain's `effectiveRole` does. `param` adds a value and returns its placeholder.
 */
export function readableThreatModelsSql(caller: Caller, param: (value: unknown) => string): string {
  const keys = callerSubjectKeys(caller);
  const types = param(keys.map((k) => k.principal_type));
  const providers = param(keys.map((k) => k.provider));
  const subjects = param(keys.map((k) => k.subject));
  return `select a.threat_model_id as id, bool_or(a.role = 'owner') as owner
    from threat_model_access a
    where a.subject = any(${subjects}::text[])
      and (a.principal_type, a.provider, a.subject) in (select * from unnest(${types}::text[], ${providers}::text[], ${subjects}::text[]))
    group by a.threat_model_id`;
}

const like = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * The threat models a caller can read, newest change first. The readable ids come first from
 * the access table (index lookups by the caller's subject keys, the same matching the domain's
 * `effectiveRole` does); the page is picked from them and only its rows are read whole.
 * Deleted ones appear only when asked for, and only where the caller is an owner.
 */
export async function listThreatModels(pool: Pool, caller: Caller, filters: ListFilters, limit: number, offset: number): Promise<{ items: ThreatModelView[]; total: number }> {
  const unfiltered = Object.values(filters).every((v) => v === undefined || v === '' || v === false || (Array.isArray(v) && v.length === 0));
  if (unfiltered) return newestReadable(pool, caller, limit, offset);
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  const readable = readableThreatModelsSql(caller, p);
  const where: string[] = [filters.include_deleted ? '(t.deleted_at is null or r.owner)' : 't.deleted_at is null'];
  if (filters.name) where.push(`t.name ilike ${p(like(filters.name))}`);
  if (filters.description) where.push(`t.description ilike ${p(like(filters.description))}`);
  if (filters.issue_uri) where.push(`t.issue_uri ilike ${p(like(filters.issue_uri))}`);
  if (filters.owner) {
    const o = p(like(filters.owner));
    where.push(`(t.owner->>'email' ilike ${o} or t.owner->>'display_name' ilike ${o} or t.owner->>'provider_id' ilike ${o})`);
  }
  if (filters.security_reviewer === 'is:null') where.push('t.security_reviewer is null');
  else if (filters.security_reviewer === 'is:notnull') where.push('t.security_reviewer is not null');
  else if (filters.security_reviewer) {
    const s = p(like(filters.security_reviewer));
    where.push(`(t.security_reviewer->>'email' ilike ${s} or t.security_reviewer->>'display_name' ilike ${s})`);
  }
  if (filters.status && filters.status.length > 0) where.push(`t.status = any(${p(filters.status)}::text[])`);
  const ranges: [keyof ListFilters, string, '>' | '<'][] = [
    ['created_after', 'created_at', '>'], ['created_before', 'created_at', '<'], ['modified_after', 'modified_at', '>'],
    ['modified_before', 'modified_at', '<'], ['status_updated_after', 'status_updated', '>'], ['status_updated_before', 'status_updated', '<'],
  ];
  for (const [key, column, op] of ranges) if (filters[key]) where.push(`t.${column} ${op} ${p(filters[key])}::timestamptz`);
  const matching = `
    with readable as materialized (${readable})
    select t.id, t.modified_at from readable r join threat_models t on t.id = r.id where ${where.join(' and ')}`;
  const filterParams = params.length;
  const { rows } = await pool.query<Row & { total: string }>(
    `with page as (
       select m.id, m.modified_at, count(*) over () as total from (${matching}) m
       order by m.modified_at desc, m.id limit ${p(limit)} offset ${p(offset)})
     select t.*, page.total from page join threat_models t on t.id = page.id order by page.modified_at desc, page.id`, params);
  let total = rows[0] ? Number(rows[0].total) : 0;
  // Past the last page the window count is absent; count separately so `total` stays right.
  if (rows.length === 0 && offset > 0) {
    const counted = await pool.query<{ n: string }>(`select count(*) as n from (${matching}) m`, params.slice(0, filterParams));
    total = Number(counted.rows[0]!.n);
  }
  return { items: rows.map((r) => toView(r, [])), total };
}

/**
 * The unfiltered list, the one every client opens with: the caller's newest live threat models
 * from threat_model_readers. Each subject key gives its newest `offset + limit` ids by an index
 * scan; the page is the newest distinct ids among those (an id within the first n of all is
 * within the first n of every key that reaches it), so only a few rows per key are touched
 * however many the caller can read. `total` counts the distinct ids by the same index.
 */
async function newestReadable(pool: Pool, caller: Caller, limit: number, offset: number): Promise<{ items: ThreatModelView[]; total: number }> {
  const keys = callerSubjectKeys(caller);
  const values = [keys.map((k) => k.principal_type), keys.map((k) => k.provider), keys.map((k) => k.subject)];
  const readers = `with keys (t, p, s) as (select * from unnest($1::text[], $2::text[], $3::text[]))`;
  const total = `(select count(distinct r.threat_model_id) from keys k join threat_model_readers r
      on r.subject = k.s and r.principal_type = k.t and r.provider = k.p where r.deleted_at is null)`;
  const { rows } = await pool.query<Row & { total: number }>({
    name: 'tmi_newest_readable',
    text: `${readers},
      newest as (select c.id, c.modified_at from keys k cross join lateral (
        select r.threat_model_id as id, r.modified_at from threat_model_readers r
        where r.subject = k.s and r.principal_type = k.t and r.provider = k.p and r.deleted_at is null
        order by r.modified_at desc, r.threat_model_id limit $4::int + $5::int) c),
      page as (select id, max(modified_at) as modified_at from newest group by id order by 2 desc, id limit $4::int offset $5::int)
      select t.*, ${total} as total from page join threat_models t on t.id = page.id order by page.modified_at desc, page.id`,
    values: [...values, limit, offset],
  });
  if (rows.length > 0) return { items: rows.map((r) => toView(r, [])), total: Number(rows[0]!.total) };
  const counted = await pool.query<{ n: number }>({ name: 'tmi_readable_count', text: `${readers} select ${total} as n`, values });
  return { items: [], total: Number(counted.rows[0]!.n) };
}

/**
 * Live threat models where the caller holds an owner entry as a user, by id: the candidates for
 * what they own. Whether the caller is the owner is the decider's call, on the stream.
 */
export async function ownerCandidateIds(pool: Pool, caller: Caller): Promise<string[]> {
  const keys = callerSubjectKeys(caller).filter((k) => k.principal_type === 'user');
  const { rows } = await pool.query<{ id: string }>(
    `select distinct a.threat_model_id as id
     from threat_model_access a join threat_models t on t.id = a.threat_model_id
     where a.principal_type = 'user' and a.role = 'owner' and t.deleted_at is null
       and (a.provider, a.subject) in (select * from unnest($1::text[], $2::text[]))
     order by 1`,
    [keys.map((k) => k.provider), keys.map((k) => k.subject)]);
  return rows.map((r) => r.id);
}
