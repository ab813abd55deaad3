import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Aggregate snapshots (src/events/snapshots.ts): a cache of folded state, never a source of truth.
  // A row is the state of `state_type` (a decider's fold) at stream `version`, built by code whose
  // state schema is `state_version`; readers only use their own current state_version.
  await sql`
    create table snapshots (
      stream_id     text not null,
      state_type    text not null,
      state_version integer not null check (state_version > 0),
      version       integer not null check (version > 0),
      state         jsonb not null,
      created_at    timestamptz not null default now(),
      primary key (stream_id, state_type, state_version, version)
    )`.execute(db);

  // Access-token revocations (src/auth/revocations.ts). Each instance loads the ones still in
  // force at start-up by time; this partial index holds only those two event types.
  await sql`create index events_revocations_by_time on events (created_at) where type in ('AccessTokenRevoked', 'UserDeleted')`.execute(db);
  // ...and hears new ones at commit: NOTIFY in a trigger is delivered only if the appending
  // transaction commits, whoever appended (any instance, the CLI, a script).
  await sql`
    create function events_notify_revocation() returns trigger language plpgsql as $$
    begin
      perform pg_notify('tmi_access_revoked', json_build_object(
        'type', new.type, 'schema_version', new.schema_version, 'stream_id', new.stream_id, 'data', new.data,
        'at', extract(epoch from new.created_at))::text);
      return null;
    end $$`.execute(db);
  await sql`
    create trigger events_revocation_notify after insert on events for each row
    when (new.type in ('AccessTokenRevoked', 'UserDeleted')) execute function events_notify_revocation()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger events_revocation_notify on events`.execute(db);
  await sql`drop function events_notify_revocation`.execute(db);
  await sql`drop index events_revocations_by_time`.execute(db);
  await sql`drop table snapshots`.execute(db);
}
