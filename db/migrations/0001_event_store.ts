import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // position = xid8 << 16 | index in transaction (src/events/position.ts); no sequence, no lock.
  await sql`
    create table events (
      position       bigint primary key,
      event_id       uuid not null unique,
      stream_id      text not null,
      stream_type    text not null,
      version        integer not null check (version > 0),
      type           text not null,
      schema_version integer not null check (schema_version > 0),
      data           jsonb not null,
      metadata       jsonb not null,
      created_at     timestamptz not null default now(),
      constraint events_stream_version_key unique (stream_id, version)
    )`.execute(db);
  await sql`create index events_type_position_idx on events (type, position)`.execute(db);
  await sql`
    create table command_results (
      command_id text primary key,
      event_ids  uuid[] not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  // Events are immutable: refuse updates and deletes at the database, not only in code.
  await sql`
    create function events_are_immutable() returns trigger language plpgsql as $$
    begin
      raise exception 'events are immutable (% refused)', tg_op using errcode = 'P0001';
    end $$`.execute(db);
  await sql`create trigger events_immutable before update or delete on events for each row execute function events_are_immutable()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table events`.execute(db);
  await sql`drop table command_results`.execute(db);
  await sql`drop function events_are_immutable`.execute(db);
}
