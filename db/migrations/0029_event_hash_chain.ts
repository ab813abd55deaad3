import { sql, type Kysely } from 'kysely';
import { chainedColumnsSql, expectedHash, type ChainedRow } from '../../src/events/chain.js';

const BACKFILL_BATCH = 1000;

/**
 * Tamper evidence (src/events/chain.ts): every event's `hash` links it to the one before it in its
 * stream, and checkpoints digest the global order in settled ranges, which is what catches a
 * stream's last event removed. Events stored before this migration get their chain here, stream by
 * stream in version order (a keyset walk of the (stream_id, version) key, so memory stays one batch),
 * exactly as the append would have computed it: from this migration on, verify covers the whole
 * store. The rewrite is the one update events ever see; the immutability trigger is off only for it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table events add column hash bytea`.execute(db);
  await sql`alter table events disable trigger events_immutable`.execute(db);
  let after: { stream_id: string; version: number } | null = null;
  let previous: { stream_id: string; hash: Buffer } | null = null;
  for (;;) {
    const { rows }: { rows: ChainedRow[] } = await sql<ChainedRow>`
      select ${sql.raw(chainedColumnsSql('e'))}
      from events e
      where ${after === null ? sql`true` : sql`(stream_id, version) > (${after.stream_id}, ${after.version})`}
      order by stream_id, version limit ${BACKFILL_BATCH}`.execute(db);
    if (rows.length === 0) break;
    const positions: string[] = [];
    const hashes: Buffer[] = [];
    for (const r of rows) {
      const hash = expectedHash(r, previous && previous.stream_id === r.stream_id ? previous.hash : null);
      previous = { stream_id: r.stream_id, hash };
      positions.push(r.position);
      hashes.push(hash);
    }
    await sql`update events e set hash = v.hash from unnest(${positions}::bigint[], ${hashes}::bytea[]) as v(position, hash)
              where e.position = v.position`.execute(db);
    const last: ChainedRow = rows[rows.length - 1]!;
    after = { stream_id: last.stream_id, version: last.version };
  }
  await sql`alter table events enable trigger events_immutable`.execute(db);
  await sql`alter table events alter column hash set not null`.execute(db);

  // id orders the checkpoints; each covers the positions after the previous one's through_position.
  await sql`
    create table event_chain_checkpoints (
      id               bigint generated always as identity primary key,
      after_position   bigint not null,
      through_position bigint not null unique,
      event_count      integer not null,
      digest           bytea not null,
      created_at       timestamptz not null default now(),
      check (through_position > after_position)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table event_chain_checkpoints`.execute(db);
  await sql`alter table events drop column hash`.execute(db);
}
