import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table projection_checkpoints (
      name       text primary key,
      version    integer not null,
      position   bigint not null default 0,
      halted_at  bigint,
      last_error text,
      updated_at timestamptz not null default now()
    )`.execute(db);
  // Events a projector could not apply; kept in PostgreSQL beside the read tables, not in the queue.
  await sql`
    create table dead_letters (
      id             bigserial primary key,
      projection     text not null,
      event_position bigint not null,
      event_id       uuid not null,
      event_type     text not null,
      error          text not null,
      attempts       integer not null default 1,
      status         text not null default 'pending' check (status in ('pending', 'resolved', 'skipped')),
      created_at     timestamptz not null default now(),
      updated_at     timestamptz not null default now(),
      unique (projection, event_id)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table dead_letters`.execute(db);
  await sql`drop table projection_checkpoints`.execute(db);
}
