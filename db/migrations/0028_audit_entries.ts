import { sql, type Kysely } from 'kysely';

/**
 * TMI's audit trail (src/projections/audit-trail.ts): one row per command's change of one entity
 * (a threat model or one of its children), derived from the events. `id` is the entry's first
 * event's id; `stream_id`, `tx` and `group_key` let the projector add the other events of the same
 * command to it. Pages are read newest first by `first_position`, per threat model or per entity.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table audit_entries (
      id                 uuid primary key,
      threat_model_id    uuid not null,
      object_type        text not null,
      object_id          uuid not null,
      stream_id          text not null,
      version            integer not null,
      change_type        text not null,
      change_summary     text not null,
      summary_parts      jsonb not null,
      actor_user_id      uuid,
      actor_email        text,
      actor_provider     text,
      actor_provider_id  text,
      actor_display_name text,
      first_position     bigint not null unique,
      tx                 bigint not null,
      group_key          text not null,
      created_at         timestamptz not null
    )`.execute(db);
  await sql`create index audit_entries_by_threat_model on audit_entries (threat_model_id, first_position)`.execute(db);
  await sql`create index audit_entries_by_stream on audit_entries (stream_id, first_position)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table audit_entries`.execute(db);
}
