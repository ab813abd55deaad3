import { sql, type Kysely } from 'kysely';

/**
 * The threat dashboard's read tables (an extension, `/extensions/threat-dashboard`): every
 * threat's current bucket (severity, status, mitigated) and its last change, and the number of
 * live threats per threat model and bucket. Severity and status are lower-cased; '' means unset.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table threat_dashboard_threats (
      threat_id       uuid primary key,
      threat_model_id uuid not null,
      name            text not null,
      severity        text not null,
      status          text not null,
      mitigated       boolean not null,
      deleted         boolean not null,
      change          text not null check (change in ('created', 'changed', 'deleted', 'restored')),
      changed_at      timestamptz not null,
      changed_position bigint not null
    )`.execute(db);
  await sql`create index threat_dashboard_recent on threat_dashboard_threats (threat_model_id, changed_position desc)`.execute(db);
  await sql`
    create table threat_dashboard_counts (
      threat_model_id uuid not null,
      severity        text not null,
      status          text not null,
      mitigated       boolean not null,
      threats         integer not null check (threats >= 0),
      primary key (threat_model_id, severity, status, mitigated)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table threat_dashboard_counts`.execute(db);
  await sql`drop table threat_dashboard_threats`.execute(db);
}
