import { sql, type Kysely } from 'kysely';

/**
 * The last failed background build of a projection's newer version (src/projections/background-rebuild.ts),
 * shared by every process: while a version bump is being built the live tables move only with
 * workers of the old version, so a build that keeps failing must show in `projections status`
 * and the metrics, not only in one process's log. One row per projection; a swap clears it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table projection_rebuild_failures (
      name       text primary key,
      version    integer not null,
      failures   integer not null,
      last_error text not null,
      failed_at  timestamptz not null default now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table projection_rebuild_failures`.execute(db);
}
