import { sql, type Kysely } from 'kysely';

const COUNT_COLUMNS = ['document_count', 'repo_count', 'diagram_count', 'threat_count', 'asset_count', 'note_count'];

export async function up(db: Kysely<unknown>): Promise<void> {
  // An idempotency key is bound to the request it came with (a hash of method, route, params,
  // query and body). Keys recorded before this column existed have none and replay as they did.
  await sql`alter table command_results add column request_hash text`.execute(db);
  // A cached count below zero means an event was applied twice or a delta is wrong: the apply must
  // fail (the event is dead-lettered, the projection halts) rather than be clamped out of sight.
  for (const column of COUNT_COLUMNS) {
    await sql`alter table threat_models add constraint ${sql.raw(`threat_models_${column}_not_negative`)} check (${sql.ref(column)} >= 0)`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of COUNT_COLUMNS) {
    await sql`alter table threat_models drop constraint ${sql.raw(`threat_models_${column}_not_negative`)}`.execute(db);
  }
  await sql`alter table command_results drop column request_hash`.execute(db);
}
