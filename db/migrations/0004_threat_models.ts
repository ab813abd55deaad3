import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // TMI's alias: a server-assigned, globally unique, increasing integer; drawn when the create command runs.
  await sql`create sequence threat_model_alias_seq`.execute(db);
  // Read tables below are derived from the threat model streams and can be rebuilt from them.
  await sql`
    create table threat_models (
      id                     uuid primary key,
      alias                  integer not null,
      name                   text not null,
      description            text,
      threat_model_framework text not null,
      issue_uri              text,
      project_id             text,
      status                 text not null,
      status_updated         timestamptz,
      security_reviewer      jsonb,
      is_confidential        boolean not null default false,
      owner                  jsonb not null,
      created_by             jsonb not null,
      "authorization"        jsonb not null,
      version                integer not null,
      created_at             timestamptz not null,
      modified_at            timestamptz not null,
      deleted_at             timestamptz,
      document_count         integer not null default 0,
      repo_count             integer not null default 0,
      diagram_count          integer not null default 0,
      threat_count           integer not null default 0,
      asset_count            integer not null default 0,
      note_count             integer not null default 0
    )`.execute(db);
  // Lists start from the caller's readable ids; this lets the page be picked without touching the wide rows.
  await sql`create index threat_models_list on threat_models (id) include (modified_at, deleted_at)`.execute(db);
  // One row per subject and role; `subject` is the lower-cased provider id, the key "who can read what" is looked up by.
  await sql`
    create table threat_model_access (
      threat_model_id uuid not null,
      principal_type  text not null check (principal_type in ('user', 'group')),
      provider        text not null,
      subject         text not null,
      provider_id     text not null,
      role            text not null check (role in ('reader', 'writer', 'owner')),
      primary key (threat_model_id, principal_type, provider, subject)
    )`.execute(db);
  await sql`create index threat_model_access_by_subject on threat_model_access (subject, principal_type, provider) include (threat_model_id, role)`.execute(db);
  await sql`
    create table metadata (
      entity_type      text not null,
      entity_id        text not null,
      key              text not null check (key ~ '^[a-zA-Z0-9_./:-]+$' and length(key) <= 256),
      value            text not null,
      created_position bigint not null,
      created_ordinal  integer not null,
      created_at       timestamptz not null,
      modified_at      timestamptz not null,
      primary key (entity_type, entity_id, key)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table metadata`.execute(db);
  await sql`drop table threat_model_access`.execute(db);
  await sql`drop table threat_models`.execute(db);
  await sql`drop sequence threat_model_alias_seq`.execute(db);
}
