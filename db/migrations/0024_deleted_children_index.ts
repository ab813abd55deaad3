import { sql, type Kysely } from 'kysely';

/**
 * The lists' indexes (0023) hold live children only; an owner's `include_deleted=true` list
 * would otherwise scan a whole table across every parent to find one parent's deleted ones.
 */
const TABLES = ['threats', 'diagrams', 'documents', 'repositories', 'notes', 'assets'] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) {
    await sql`create index ${sql.id(`${table}_deleted_by_parent`)} on ${sql.table(table)} (threat_model_id) where deleted_at is not null`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) await sql`drop index ${sql.id(`${table}_deleted_by_parent`)}`.execute(db);
}
