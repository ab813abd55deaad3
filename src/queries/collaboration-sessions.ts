import type { Pool } from 'pg';
import type { Caller } from '../commands/caller.js';
import type { User } from '../commands/threat-models/values.js';
import type { Permission } from '../realtime/sessions/events.js';
import { readableThreatModelsSql } from './threat-models.js';

/** An active session as TMI's CollaborationSession shows it, less the URL (the HTTP layer knows the service's address). */
export interface SessionView {
  session_id: string; threat_model_id: string; threat_model_name: string; diagram_id: string; diagram_name: string;
  host: User; presenter: User | null; host_user_id: string;
  participants: { user_id: string; user: User; permissions: Permission; joined_at: string }[];
}

const SELECT = `
  select s.session_id, s.threat_model_id, t.name as threat_model_name, s.diagram_id, d.fields->>'name' as diagram_name,
         s.host, s.presenter, s.host_user_id,
         coalesce((select json_agg(json_build_object('user_id', p.user_id, 'user', p."user", 'permissions', p.permissions, 'joined_at', p.joined_at) order by p.ordinal)
                   from session_participants p where p.session_id = s.session_id), '[]') as participants
  from collaboration_sessions s
  join threat_models t on t.id = s.threat_model_id and t.deleted_at is null
  join diagrams d on d.id = s.diagram_id and d.deleted_at is null`;

/** The active session of a diagram under a threat model; null when there is none (or the diagram or its threat model is deleted). */
export async function activeSessionOf(pool: Pool, threatModelId: string, diagramId: string): Promise<SessionView | null> {
  const { rows } = await pool.query<SessionView>(`${SELECT} where s.diagram_id = $1 and s.threat_model_id = $2`, [diagramId, threatModelId]);
  return rows[0] ?? null;
}

/** Every active session on a threat model the caller can read, oldest first. */
export async function activeSessionsFor(pool: Pool, caller: Caller): Promise<SessionView[]> {
  const params: unknown[] = [];
  const readable = readableThreatModelsSql(caller, (v) => `$${params.push(v)}`);
  const { rows } = await pool.query<SessionView>(`${SELECT} where s.threat_model_id in (select id from (${readable}) r) order by s.started_at, s.session_id`, params);
  return rows;
}

/** A session by id, for a ticket: its diagram and who is authorized to it. */
export async function sessionById(pool: Pool, sessionId: string): Promise<SessionView | null> {
  const { rows } = await pool.query<SessionView>(`${SELECT} where s.session_id = $1`, [sessionId]);
  return rows[0] ?? null;
}

/** Every active session, oldest first: the operator console's view across all threat models. */
export async function allActiveSessions(pool: Pool, limit: number): Promise<SessionView[]> {
  const { rows } = await pool.query<SessionView>(`${SELECT} order by s.started_at, s.session_id limit $1`, [limit]);
  return rows;
}
