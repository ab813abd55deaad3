import { sql, type Kysely } from 'kysely';

// Access entries name users by the provider's id, case-insensitively; account deletion looks successors up by it.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index users_provider_user_id on users (lower(provider_user_id))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index users_provider_user_id`.execute(db);
}
