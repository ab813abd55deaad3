import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Counts rebuilds: a reset puts the position back to 0, and whoever caches positions (the API's
  // read-your-writes progress) must know that a position of an older generation no longer holds.
  await sql`alter table projection_checkpoints add column generation integer not null default 0`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table projection_checkpoints drop column generation`.execute(db);
}
