import { sql, type Kysely } from 'kysely';

/**
 * Which streams belong to a threat model: its own and every sub-resource's (threats, diagrams,
 * documents, repositories, notes, assets, a diagram's collaboration sessions). Each such stream's
 * first event names its parent in `data.threat_model_id` (child ids never name the parent, and
 * the metadata events on a child stream do not carry it), so the history feed and time travel find
 * a threat model's streams through its streams' first events. Partial: only first events that name
 * a threat model are indexed, so appends of every other event (the hot path) pay nothing more.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index events_streams_by_threat_model on events ((data->>'threat_model_id'), stream_id)
            where version = 1 and data ? 'threat_model_id'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index events_streams_by_threat_model`.execute(db);
}
