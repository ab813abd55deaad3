import { sql, type Kysely } from 'kysely';

/**
 * The read side of collaboration sessions (src/projections/collaboration-sessions.ts): the active
 * session of each diagram, and who is authorized to it. An ended session's rows are removed; its
 * history stays in the events.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table collaboration_sessions (
      session_id      uuid primary key,
      threat_model_id uuid not null,
      diagram_id      uuid not null unique,
      host_user_id    text not null,
      host            jsonb not null,
      presenter       jsonb,
      started_at      timestamptz not null
    )`.execute(db);
  await sql`create index collaboration_sessions_by_threat_model on collaboration_sessions (threat_model_id)`.execute(db);
  await sql`
    create table session_participants (
      session_id  uuid not null references collaboration_sessions (session_id) on delete cascade,
      user_id     text not null,
      "user"      jsonb not null,
      permissions text not null,
      joined_at   timestamptz not null,
      ordinal     bigint not null,
      primary key (session_id, user_id)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table session_participants`.execute(db);
  await sql`drop table collaboration_sessions`.execute(db);
}
