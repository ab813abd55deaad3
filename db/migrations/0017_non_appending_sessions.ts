import { sql, type Kysely } from 'kysely';

/**
 * A session that declared itself non-appending (application name `tmi-es-projector`, taken by
 * projector batches) may not insert events: readers do not wait for such transactions
 * (src/events/position.ts), so an event from one could land below a horizon already passed.
 * NOT VALID: existing rows are not re-checked (they were never inserted under that name).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table events add constraint events_not_from_non_appending_session
      check (current_setting('application_name') <> 'tmi-es-projector') not valid`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table events drop constraint events_not_from_non_appending_session`.execute(db);
}
