import { sql, type Kysely } from 'kysely';

/**
 * What an import into another cluster needs for the global order to continue after it: positions
 * are `(xid8 + xid_offset) << 16 | n` (src/events/position.ts), and a cluster whose transaction
 * ids are behind the exporting one's would otherwise number new events below the imported head.
 * Zero until an import raises it; it only ever grows. One row, always (the primary key is `true`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table event_position_offset (
      singleton  boolean primary key default true check (singleton),
      xid_offset bigint not null check (xid_offset >= 0)
    )`.execute(db);
  await sql`insert into event_position_offset (xid_offset) values (0)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table event_position_offset`.execute(db);
}
