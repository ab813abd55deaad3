import { sql, type Kysely } from 'kysely';

/**
 * The list's index: one row per subject an authorization entry names on a threat model, with
 * the model's modification time and deletion copied in by the threat_models projection, so
 * the newest page a caller can read is an index scan per subject key — not a join of every
 * readable id to the threat models table, sorted, to keep 20.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table threat_model_readers (
      threat_model_id uuid not null,
      principal_type  text not null,
      provider        text not null,
      subject         text not null,
      role            text not null,
      modified_at     timestamptz not null,
      deleted_at      timestamptz,
      primary key (threat_model_id, principal_type, provider, subject)
    )`.execute(db);
  await sql`create index threat_model_readers_newest on threat_model_readers (subject, principal_type, provider, modified_at desc, threat_model_id)
    where deleted_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table threat_model_readers`.execute(db);
}
