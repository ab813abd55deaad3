import { sql, type Kysely } from 'kysely';

/**
 * What the retention sweep (src/retention) reads. Each sweep takes a batch of the oldest rows at a
 * time, so each needs an index in that order: without one every batch would scan the whole table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Idempotency keys past their window, oldest first.
  await sql`create index command_results_by_age on command_results (created_at)`.execute(db);
  // Refresh-token families in the order their sessions end. Partial: only the first event of a
  // family is indexed (one per sign-in), so every other append pays nothing.
  await sql`create index events_token_families_by_expiry on events (((data->>'session_expires_at')::bigint), stream_id)
            where type = 'RefreshTokenIssued'`.execute(db);
  // How far a sweep that walks the event store (families whose session ended) has got: each run
  // starts where the last one stopped instead of looking at every family ever issued again.
  await sql`
    create table retention_cursors (
      kind       text primary key,
      at         bigint not null,
      id         text not null,
      updated_at timestamptz not null default now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table retention_cursors`.execute(db);
  await sql`drop index events_token_families_by_expiry`.execute(db);
  await sql`drop index command_results_by_age`.execute(db);
}
