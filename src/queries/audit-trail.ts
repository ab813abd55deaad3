import type { Pool } from 'pg';
import type { ChangeType, ObjectType } from '../commands/audit/entries.js';
import { displayNameOf } from '../commands/users/display-name.js';

/** An entry as TMI's AuditEntry shows it. */
export interface AuditEntryView {
  id: string;
  threat_model_id: string;
  object_type: ObjectType;
  object_id: string;
  version: number;
  change_type: ChangeType;
  actor: { email: string; provider: string; provider_id: string; display_name: string };
  change_summary: string;
  created_at: string;
}

/** What the entry's row adds for its readers: where it sits in the global order and which stream it is of. */
export interface AuditEntryRow extends AuditEntryView { position: number; stream_id: string }

export interface AuditFilter {
  object_type?: ObjectType;
  change_type?: ChangeType;
  actor_email?: string;
  created_after?: string;
  created_before?: string;
}

/** Who acted, as the event recorded them. */
export interface RecordedActor {
  user_id: string | null; email: string | null; provider: string | null; provider_id?: string | null; display_name?: string | null;
}
/** The user's record, where there is one (kept after an account's deletion). */
export interface KnownUser { email: string; provider: string; provider_user_id: string; name: string }

/**
 * TMI's AuditActor for an entry, the one rule for the trail and a rollback's answer: what the
 * event recorded, else the user's record (events from before the provider id and name were
 * recorded lack them), and the name as the API names users everywhere (displayNameOf: the email
 * when it is empty or blank).
 */
export function auditActor(recorded: RecordedActor, known: KnownUser | null): AuditEntryView['actor'] {
  const email = recorded.email || known?.email || '';
  return {
    email,
    provider: recorded.provider || known?.provider || '',
    provider_id: recorded.provider_id || known?.provider_user_id || recorded.user_id || '',
    display_name: displayNameOf(recorded.display_name?.trim() ? recorded.display_name : known?.name, email),
  };
}

const SELECT = `
  select a.id, a.threat_model_id, a.object_type, a.object_id, a.version, a.change_type, a.change_summary, a.created_at,
         a.first_position, a.stream_id, a.actor_user_id::text, a.actor_email, a.actor_provider, a.actor_provider_id, a.actor_display_name,
         u.email as user_email, u.provider as user_provider, u.provider_user_id as user_provider_id, u.name as user_name
    from audit_entries a left join users u on u.internal_uuid = a.actor_user_id`;

interface Row {
  id: string; threat_model_id: string; object_type: ObjectType; object_id: string; version: number; change_type: ChangeType;
  change_summary: string; created_at: Date; first_position: string; stream_id: string;
  actor_user_id: string | null; actor_email: string | null; actor_provider: string | null; actor_provider_id: string | null; actor_display_name: string | null;
  user_email: string | null; user_provider: string; user_provider_id: string; user_name: string;
}

const rowOf = (r: Row): AuditEntryRow => ({
  id: r.id, threat_model_id: r.threat_model_id, object_type: r.object_type, object_id: r.object_id, version: r.version, change_type: r.change_type,
  actor: auditActor(
    { user_id: r.actor_user_id, email: r.actor_email, provider: r.actor_provider, provider_id: r.actor_provider_id, display_name: r.actor_display_name },
    r.user_email === null ? null : { email: r.user_email, provider: r.user_provider, provider_user_id: r.user_provider_id, name: r.user_name },
  ),
  change_summary: r.change_summary, created_at: r.created_at.toISOString(), position: Number(r.first_position), stream_id: r.stream_id,
});

/** The entry without its place in the order: what the API answers. */
export const entryView = ({ position: _p, stream_id: _s, ...view }: AuditEntryRow): AuditEntryView => view;

function conditions(threatModelId: string, filter: AuditFilter, params: unknown[]): string[] {
  const param = (v: unknown) => { params.push(v); return `$${params.length}`; };
  const where = [`a.threat_model_id = ${param(threatModelId)}`];
  if (filter.object_type !== undefined) where.push(`a.object_type = ${param(filter.object_type)}`);
  if (filter.change_type !== undefined) where.push(`a.change_type = ${param(filter.change_type)}`);
  if (filter.actor_email !== undefined) where.push(`lower(a.actor_email) = lower(${param(filter.actor_email)})`);
  if (filter.created_after !== undefined) where.push(`a.created_at > ${param(filter.created_after)}`);
  if (filter.created_before !== undefined) where.push(`a.created_at < ${param(filter.created_before)}`);
  return where;
}

/** Where a cursor page starts: before (older than) or after (newer than) an entry's position. */
export type AuditCursor = { direction: 'older' | 'newer'; position: number };

export interface CursorPage { entries: AuditEntryRow[]; total: number; older: boolean; newer: boolean }

/**
 * A page of a threat model's trail, newest first, from a cursor. A page read towards the newer end
 * is read oldest first and turned around. Whether more lie beyond the page in its direction is
 * told by reading one more; towards the cursor's side there is the entry the cursor came from.
 */
export async function threatModelTrailPage(pool: Pool, threatModelId: string, filter: AuditFilter, limit: number, cursor: AuditCursor | null): Promise<CursorPage> {
  const params: unknown[] = [];
  const where = conditions(threatModelId, filter, params);
  const countParams = [...params];
  const newer = cursor?.direction === 'newer';
  if (cursor) {
    params.push(cursor.position);
    where.push(`a.first_position ${newer ? '>' : '<'} $${params.length}`);
  }
  params.push(limit + 1);
  const [page, count] = await Promise.all([
    pool.query<Row>(`${SELECT} where ${where.join(' and ')} order by a.first_position ${newer ? 'asc' : 'desc'} limit $${params.length}`, params),
    pool.query<{ n: string }>(`select count(*) as n from audit_entries a where ${conditions(threatModelId, filter, []).join(' and ')}`, countParams),
  ]);
  const more = page.rows.length > limit;
  const rows = page.rows.slice(0, limit).map(rowOf);
  if (newer) rows.reverse();
  return { entries: rows, total: Number(count.rows[0]!.n), older: newer ? cursor !== null : more, newer: newer ? more : cursor !== null };
}

/** A page of one entity's trail, newest first, by offset. */
export async function objectTrailPage(pool: Pool, threatModelId: string, objectType: ObjectType, objectId: string, limit: number, offset: number) {
  const where = 'a.threat_model_id = $1 and a.stream_id = $2';
  const params = [threatModelId, `${objectType}-${objectId}`];
  const [page, count] = await Promise.all([
    pool.query<Row>(`${SELECT} where ${where} order by a.first_position desc limit $3 offset $4`, [...params, limit, offset]),
    pool.query<{ n: string }>(`select count(*) as n from audit_entries a where ${where}`, params),
  ]);
  return { entries: page.rows.map(rowOf), total: Number(count.rows[0]!.n) };
}

export async function findAuditEntry(pool: Pool, threatModelId: string, entryId: string): Promise<AuditEntryRow | null> {
  const { rows } = await pool.query<Row>(`${SELECT} where a.threat_model_id = $1 and a.id = $2`, [threatModelId, entryId]);
  return rows[0] ? rowOf(rows[0]) : null;
}

/** The entity's newest entry: what a rollback that changes nothing answers with. */
export async function newestEntryOf(pool: Pool, threatModelId: string, streamId: string): Promise<AuditEntryRow | null> {
  const { rows } = await pool.query<Row>(`${SELECT} where a.threat_model_id = $1 and a.stream_id = $2 order by a.first_position desc limit 1`, [threatModelId, streamId]);
  return rows[0] ? rowOf(rows[0]) : null;
}
