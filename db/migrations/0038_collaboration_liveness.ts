import { sql, type Kysely } from 'kysely';

/**
 * When a collaboration session last had a socket connected on some instance. Not an event (who
 * watches a diagram, minute by minute, is presence, not history): the hub upserts it while a room
 * has members, and the retention sweep counts a session watched within its idle age as in use.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create table collaboration_liveness (session_id uuid primary key, seen_at timestamptz not null)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table collaboration_liveness`.execute(db);
}
