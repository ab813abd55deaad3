import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Read tables of the users projection; the user streams are the source of truth.
  await sql`
    create table users (
      internal_uuid  uuid primary key,
      provider       text not null,
      provider_user_id text not null,
      email          text not null,
      name           text not null,
      email_verified boolean not null default false,
      groups         text[] not null default '{}',
      is_admin       boolean not null default false,
      is_security_reviewer boolean not null default false,
      created_at     timestamptz not null,
      modified_at    timestamptz not null,
      last_login     timestamptz
    )`.execute(db);
  await sql`create index users_email on users (lower(email))`.execute(db);
  await sql`
    create table user_providers (
      provider         text not null,
      provider_user_id text not null,
      user_internal_uuid uuid not null,
      email            text not null,
      is_primary       boolean not null default true,
      created_at       timestamptz not null,
      last_login       timestamptz,
      primary key (provider, provider_user_id)
    )`.execute(db);
  await sql`create unique index user_providers_one_primary on user_providers (user_internal_uuid) where is_primary`.execute(db);
  await sql`
    create table user_group_memberships (
      user_internal_uuid uuid not null,
      group_uuid   uuid not null,
      provider     text not null,
      group_name   text not null,
      added_at     timestamptz not null,
      primary key (user_internal_uuid, group_uuid)
    )`.execute(db);
  await sql`create index user_group_memberships_group on user_group_memberships (group_uuid)`.execute(db);
  await sql`
    create table client_credentials (
      id           uuid primary key,
      owner_uuid   uuid not null,
      client_id    text not null unique,
      name         text not null,
      description  text,
      is_active    boolean not null default true,
      created_at   timestamptz not null,
      modified_at  timestamptz not null,
      last_used_at timestamptz,
      expires_at   timestamptz
    )`.execute(db);
  await sql`create index client_credentials_owner on client_credentials (owner_uuid, created_at)`.execute(db);
  // Short-lived auth state (OAuth state, code bindings, denylisted jtis, lockout counters) when Redis is absent.
  await sql`
    create table auth_ephemeral (
      key        text primary key,
      value      text not null,
      expires_at timestamptz not null
    )`.execute(db);
  await sql`create index auth_ephemeral_expiry on auth_ephemeral (expires_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['auth_ephemeral', 'client_credentials', 'user_group_memberships', 'user_providers', 'users']) {
    await sql`drop table ${sql.table(t)}`.execute(db);
  }
}
