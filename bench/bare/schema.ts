import pg from 'pg';

/** The bare server's progress channel, the counterpart of the projection runner's `tmi_projection_progress`. */
export const BARE_PROGRESS_CHANNEL = 'bare_progress';

/**
 * Tables of the bare server, created in the bench database before it starts:
 * `bare_events` is a copy of `events` (same columns and indexes, positions from a sequence, no
 * immutability trigger), `bare_read` and `bare_checkpoint` are its one-table projection.
 */
export async function createBareTables(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`
      create table if not exists bare_events (like events including defaults including constraints including indexes);
      create sequence if not exists bare_events_position_seq owned by bare_events.position;
      alter table bare_events alter column position set default nextval('bare_events_position_seq');
      create table if not exists bare_read (id uuid primary key, name text not null, data jsonb not null, position bigint not null);
      create table if not exists bare_checkpoint (name text primary key, position bigint not null);
      insert into bare_checkpoint values ('bare', 0) on conflict do nothing;`);
  } finally {
    await client.end();
  }
}
